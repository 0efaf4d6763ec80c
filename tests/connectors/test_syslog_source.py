"""The syslog source on real sockets: UDP, TCP (both framings), TLS, backpressure.

The only stand-in is ``emit``, the agent boundary: a collector that can be
made to block, as the agent's does while its spool is full. Messages are
recorded lines (auth.log, an Apache access log) in syslog headers, and the
RFC 5424 examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import shutil
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import trustme

from connectors.config import SyslogSource as SyslogConfig
from connectors.config import SyslogTls
from connectors.errors import ListenError
from connectors.parse.dispatch import frame_events
from connectors.sources.base import Batch, Source, SourceContext
from connectors.sources.syslog import PushStreams, SyslogSource
from tests.conftest import SHARED
from tests.connectors._sources import Collector, source_context

RUN = "run1"
AUTH = [b"<38>" + line for line in (SHARED / "datasets/linux/auth.log").read_bytes().splitlines()]
"""auth.log lines as RFC 3164 messages (facility auth, severity info)."""
RFC5424 = [  # RFC 5424 section 6.5, examples 1 to 3
    "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
    "\ufeff'su root' failed for lonvick on /dev/pts/8",
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
    "%% It's time to make the do-nuts.",
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
    '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
    "\ufeffAn application event log entry...",
]


def _apache(line: bytes) -> bytes:
    """An access-log line in a BSD syslog header, timed by the line's own timestamp."""
    m = re.search(rb"\[(\d\d)/(\w{3})/\d{4}:(\d\d:\d\d:\d\d)", line)
    assert m is not None
    day, mon, hms = m.groups()
    return b"<190>%s %2d %s www apache2: %s" % (mon, int(day), hms, line)


APACHE = [_apache(x) for x in (SHARED / "datasets/web/apache_access.log").read_bytes().splitlines()]


# -- the agent boundary and a running source ----------------------------------------------


def make_ctx(tmp_path: Path) -> SourceContext:
    return source_context(tmp_path, run_id=RUN, log="tests.sources")


@contextlib.asynccontextmanager
async def serving(source: Any, emit: Collector) -> AsyncIterator[int]:
    """Run ``source`` until the block ends; yields its bound port."""
    task = asyncio.create_task(source.run(emit))
    started = asyncio.create_task(source.started.wait())
    await asyncio.wait({task, started}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if task.done():
        task.result()  # raises what run raised
    assert source.started.is_set() and source.ready()
    try:
        yield source.port
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not source.ready()


def check_batches(batches: Iterable[Batch], *, host: str = "127.0.0.1") -> None:
    """Per stream: numbers from 0 with no gap; a peer host; nothing to commit."""
    nxt: dict[str, int] = {}
    for b in batches:
        assert b.first_seq == nxt.get(b.stream, 0), (b.stream, b.first_seq)
        nxt[b.stream] = b.first_seq + len(b.records)
        assert (b.source, b.host, b.kind, b.checkpoint) == ("syslog", host, "line", None)
        assert b.records and b.stream.endswith(f"#{RUN}")


def syslog(protocol: str, **kw: Any) -> SyslogConfig:
    return SyslogConfig(type="syslog", name="syslog", protocol=protocol, listen="127.0.0.1:0", **kw)


def newline(messages: Iterable[bytes]) -> bytes:
    return b"".join(m + b"\n" for m in messages)


def octets(messages: Iterable[bytes]) -> bytes:
    return b"".join(b"%d %s" % (len(m), m) for m in messages)


async def send_tcp(port: int, chunks: Iterable[bytes], pause: float = 0.0) -> int:
    """Write ``chunks`` on one connection (each its own write), then close; the local port."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    local: int = writer.get_extra_info("sockname")[1]
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        if pause:
            await asyncio.sleep(pause)
    writer.close()
    await writer.wait_closed()
    return local


def split(data: bytes, at: Iterable[int]) -> list[bytes]:
    cuts = [0, *sorted(at), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


# -- UDP -----------------------------------------------------------------------------------


async def test_udp_rfc3164_and_rfc5424_one_message_per_datagram(tmp_path: Path) -> None:
    emit = Collector()
    source = SyslogSource(syslog("udp"), make_ctx(tmp_path))
    messages = [*AUTH[:1200], *(m.encode() for m in RFC5424)]
    async with serving(source, emit) as port:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            for i, m in enumerate(messages):
                a.sendto(m + b"\n" if i % 2 else m, ("127.0.0.1", port))  # LF or not
                if i % 200 == 0:
                    await asyncio.sleep(0)
            await emit.wait_records(len(messages))
    assert emit.data() == messages
    assert emit.streams() == [f"udp:127.0.0.1#{RUN}"]
    assert max(len(b.records) for b in emit.batches) <= 500 and len(emit.batches) >= 3
    check_batches(emit.batches)
    assert source.datagrams_received == len(messages)
    for frame in emit.records()[-4:]:  # what the agent does next: the messages parse
        (ev,) = frame_events(frame, format="syslog")
        assert "parse_error" not in ev.record, ev.record
    assert frame_events(emit.records()[0], format="syslog")[0].record["program"] == "sshd"


async def test_udp_one_stream_per_peer(tmp_path: Path) -> None:
    emit = Collector()
    source = SyslogSource(syslog("udp"), make_ctx(tmp_path))
    async with serving(source, emit) as port:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
        ):
            b.bind(("127.0.0.2", 0))  # another peer address on the loopback network
            for i in range(10):
                a.sendto(AUTH[i], ("127.0.0.1", port))
                b.sendto(AUTH[100 + i], ("127.0.0.1", port))
            await emit.wait_records(20)
    assert emit.data(f"udp:127.0.0.1#{RUN}") == AUTH[:10]
    assert emit.data(f"udp:127.0.0.2#{RUN}") == AUTH[100:110]
    for batch in emit.batches:
        assert batch.host == batch.stream.split(":")[1].split("#")[0]


@pytest.mark.skipif(not socket.has_dualstack_ipv6(), reason="no dual-stack IPv6 here")
async def test_dual_stack_peers_by_plain_address(tmp_path: Path) -> None:
    emit = Collector()
    config = syslog("udp").model_copy(update={"listen": "[::]:0"})
    async with serving(SyslogSource(config, make_ctx(tmp_path)), emit) as port:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4,
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6,
        ):
            v4.sendto(AUTH[0], ("127.0.0.1", port))
            await emit.wait_records(1)
            v6.sendto(AUTH[1], ("::1", port))
            await emit.wait_records(2)
    assert [(b.stream, b.host) for b in emit.batches] == [
        (f"udp:127.0.0.1#{RUN}", "127.0.0.1"),  # not ::ffff:127.0.0.1
        (f"udp:[::1]#{RUN}", "::1"),
    ]


# -- TCP -----------------------------------------------------------------------------------


async def test_tcp_newline_framing_across_writes(tmp_path: Path) -> None:
    emit = Collector()
    source = SyslogSource(syslog("tcp", framing="newline"), make_ctx(tmp_path))
    messages = APACHE[:300]
    data = newline(messages).replace(b"\n", b"\r\n", 7)  # some senders end lines with CRLF
    async with serving(source, emit) as port:
        local = await send_tcp(port, split(data, [5, len(messages[0]) + 3, 20_000]), pause=0.06)
        await emit.wait_records(len(messages))
    assert emit.data() == messages
    assert emit.streams() == [f"tcp:127.0.0.1:{local}#{RUN}"]
    check_batches(emit.batches)
    (ev,) = frame_events(emit.records()[0], format="syslog")
    assert ev.record["program"] == "apache2" and "parse_error" not in ev.record, ev.record


@pytest.mark.parametrize("framing", ["octet", "auto"])
async def test_tcp_octet_counting_across_writes(tmp_path: Path, framing: str) -> None:
    emit = Collector()
    source = SyslogSource(syslog("tcp", framing=framing), make_ctx(tmp_path))
    messages = [*AUTH[:700], *(m.encode() for m in RFC5424)]
    data = octets(messages)
    cuts = [1, 2, len(messages[0]) // 2, 40_000, 40_001, len(data) - 3]  # inside headers too
    async with serving(source, emit) as port:
        await send_tcp(port, split(data, cuts), pause=0.06)
        await emit.wait_records(len(messages))
    assert emit.data() == messages
    assert all(f.error is None for f in emit.records())
    assert len(emit.batches) >= 2  # 500 records at most per batch
    check_batches(emit.batches)


async def test_tcp_several_connections_each_own_stream(tmp_path: Path) -> None:
    emit = Collector()
    source = SyslogSource(syslog("tcp"), make_ctx(tmp_path))
    feeds = [AUTH[0:400], AUTH[400:800], APACHE[:400]]
    async with serving(source, emit) as port:
        locals_ = await asyncio.gather(
            *(
                send_tcp(port, [newline(f[i : i + 50]) for i in range(0, 400, 50)], 0.01)
                for f in feeds
            )
        )
        await emit.wait_records(1200)
    assert sorted(emit.streams()) == sorted(f"tcp:127.0.0.1:{p}#{RUN}" for p in locals_)
    for local, feed in zip(locals_, feeds, strict=True):
        assert emit.data(f"tcp:127.0.0.1:{local}#{RUN}") == feed
    check_batches(emit.batches)


@pytest.mark.parametrize("framing", ["newline", "octet"])
async def test_connection_closed_mid_message_ships_what_arrived(
    tmp_path: Path, framing: str
) -> None:
    emit = Collector()
    source = SyslogSource(syslog("tcp", framing=framing), make_ctx(tmp_path))
    whole, cut = AUTH[0], AUTH[1]
    if framing == "newline":
        data = newline([whole]) + cut[:30]
    else:
        data = octets([whole]) + b"%d %s" % (len(cut), cut[:30])
    async with serving(source, emit) as port:
        await send_tcp(port, [data])
        await emit.wait_records(2)
    first, last = emit.records()
    assert first.data == whole and first.error is None
    if framing == "octet":  # as the framer gives it: the cut-off message, marked
        assert last.data == b"%d %s" % (len(cut), cut[:30]) and last.error == "truncated"
        (ev,) = frame_events(last, format="syslog")
        assert ev.record["parse_error"] == "truncated"
    else:
        assert last.data == cut[:30] and last.error is None


@pytest.mark.parametrize("protocol", ["tcp", "tls"])
async def test_backpressure_slows_the_sender_and_loses_nothing(
    tmp_path: Path, protocol: str
) -> None:
    """While emit blocks, a 20 MB sender stalls; once it returns, every message arrives in order."""
    emit = Collector()
    emit.gate.clear()  # the spool is full
    certs = Certs(tmp_path)
    tls = certs.tls() if protocol == "tls" else None
    source = SyslogSource(syslog(protocol, tls=tls), make_ctx(tmp_path))
    messages = AUTH * 25
    payload = newline(messages)
    assert len(payload) > 20_000_000
    stalled, resume = threading.Event(), threading.Event()

    def sender(port: int) -> int:
        """Sends everything; the byte count at which a send first blocked for 0.3 s (or -1)."""
        with contextlib.ExitStack() as stack:
            s = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            if tls:
                s = stack.enter_context(
                    certs.client_context().wrap_socket(s, server_hostname="127.0.0.1")
                )
            s.settimeout(0.3)
            view, sent, stalled_at = memoryview(payload), 0, -1
            while sent < len(view):
                try:
                    sent += s.send(view[sent : sent + 65536])
                except TimeoutError:
                    if stalled_at < 0:
                        stalled_at = sent
                        stalled.set()
                    resume.wait(5)
            return stalled_at

    async with serving(source, emit) as port:
        sending = asyncio.create_task(asyncio.to_thread(sender, port))
        assert await asyncio.to_thread(stalled.wait, 5), "the sender was never slowed"
        await asyncio.sleep(0.1)
        assert len(emit.batches) == 1  # one batch waits in emit; nothing more was read
        emit.gate.set()
        resume.set()
        stalled_at = await sending
        await emit.wait_records(len(messages), within=8)
    assert 0 < stalled_at < len(payload) // 2
    assert emit.data() == messages
    check_batches(emit.batches)


async def test_max_connections_makes_later_senders_wait(tmp_path: Path) -> None:
    emit = Collector()
    source = SyslogSource(syslog("tcp", max_connections=1), make_ctx(tmp_path))
    async with serving(source, emit) as port:
        _, first = await asyncio.open_connection("127.0.0.1", port)
        first.write(newline(AUTH[:1]))
        await emit.wait_records(1)
        later = asyncio.create_task(send_tcp(port, [newline(AUTH[1:2])]))
        await asyncio.sleep(0.3)
        assert emit.data() == AUTH[:1]  # queued by the kernel, not read, not refused
        first.close()
        await later
        await emit.wait_records(2)
    assert emit.data() == AUTH[:2]
    assert source.connections_accepted == 2 and source.connections_open == 0


async def test_an_emit_failure_stops_the_source_it_is_not_swallowed(tmp_path: Path) -> None:
    """A spool that cannot write (a disk error) is the agent's to report: nothing is hidden."""

    async def failing(batch: Batch) -> None:
        raise OSError(28, "No space left on device")

    source = SyslogSource(syslog("tcp"), make_ctx(tmp_path))
    task = asyncio.create_task(source.run(failing))
    await asyncio.wait_for(source.started.wait(), 5)
    assert source.port is not None
    await send_tcp(source.port, [newline(AUTH[:3])])
    with pytest.raises(ExceptionGroup) as caught:
        await asyncio.wait_for(task, 5)
    assert caught.group_contains(OSError, match="No space left")
    assert not source.ready()


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
async def test_bind_failure_names_source_and_address(tmp_path: Path, protocol: str) -> None:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        if protocol == "tcp":
            taken.listen()
        port = taken.getsockname()[1]
        config = syslog(protocol).model_copy(update={"listen": f"127.0.0.1:{port}"})
        source = SyslogSource(config, make_ctx(tmp_path))
        with pytest.raises(ListenError, match=rf"'syslog'.*{protocol} 127\.0\.0\.1:{port}"):
            await source.run(Collector())
        assert not source.ready()


def test_push_streams_never_repeat_a_number() -> None:
    streams = PushStreams(RUN, limit=3)
    a = streams.open("tcp:10.0.0.1:5000")
    assert (streams.take(a, 10), streams.take(a, 5)) == (0, 10)
    streams.close(a)
    assert streams.open("tcp:10.0.0.1:5000") == a and streams.take(a, 1) == 15  # same port again
    b, c = streams.name("udp:10.0.0.2"), streams.name("udp:10.0.0.3")
    streams.take(b, 4)
    d = streams.name("udp:10.0.0.4")  # past the limit: closed streams forgotten, new names
    assert (b, c, d) == (f"udp:10.0.0.2#{RUN}", f"udp:10.0.0.3#{RUN}", f"udp:10.0.0.4#{RUN}.1")
    assert streams.name("udp:10.0.0.2") == f"udp:10.0.0.2#{RUN}.1"
    assert streams.take(a, 1) == 16  # the open connection keeps its name and numbers


# -- TLS -----------------------------------------------------------------------------------


class Certs:
    """A CA, a server certificate for 127.0.0.1 and a client one, as files."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.client = self.ca.issue_cert("sender.example")
        server = self.ca.issue_cert("127.0.0.1")
        self.ca_file = folder / "ca.pem"
        self.cert_file, self.key_file = folder / "server.pem", folder / "server.key"
        self.client_cert, self.client_key = folder / "client.pem", folder / "client.key"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.cert_file.write_bytes(b"".join(b.bytes() for b in server.cert_chain_pems))
        server.private_key_pem.write_to_path(str(self.key_file))
        self.client_cert.write_bytes(b"".join(b.bytes() for b in self.client.cert_chain_pems))
        self.client.private_key_pem.write_to_path(str(self.client_key))

    def tls(self, *, mutual: bool = False) -> SyslogTls:
        return SyslogTls(
            cert_file=self.cert_file,
            key_file=self.key_file,
            client_ca_file=self.ca_file if mutual else None,
        )

    def client_context(self, *, with_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if with_cert:
            self.client.configure_cert(ctx)
        return ctx


def send_tls(port: int, ctx: ssl.SSLContext, data: bytes) -> None:
    """A blocking TLS client: connect, verify the server, send, close cleanly."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        s.sendall(data)
        s.unwrap()


async def test_tls_with_python_ssl_client(tmp_path: Path) -> None:
    certs = Certs(tmp_path)
    emit = Collector()
    source = SyslogSource(syslog("tls", tls=certs.tls()), make_ctx(tmp_path))
    messages = AUTH[:600]
    async with serving(source, emit) as port:
        await asyncio.to_thread(send_tls, port, certs.client_context(), octets(messages))
        await emit.wait_records(len(messages))
    assert emit.data() == messages
    assert emit.streams()[0].startswith("tls:127.0.0.1:")
    check_batches(emit.batches)


async def test_tls_sender_that_never_reads_loses_nothing_on_close(tmp_path: Path) -> None:
    """A sender that only writes, then closes, must not be reset by unread TLS 1.3 tickets."""
    certs = Certs(tmp_path)
    emit = Collector()
    emit.gate.clear()  # the source is not reading when the sender closes
    source = SyslogSource(syslog("tls", tls=certs.tls()), make_ctx(tmp_path))
    messages = AUTH[:2000]

    def write_only(port: int) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
            time.sleep(0.1)  # anything the server sends after the handshake has arrived
            s.sendall(newline(messages))
        # closed without reading and without close_notify, as a plain syslog sender does

    async with serving(source, emit) as port:
        await asyncio.to_thread(write_only, port)
        await asyncio.sleep(0.1)
        emit.gate.set()
        await emit.wait_records(len(messages))
    assert emit.data() == messages


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command on this machine")
async def test_mutual_tls_with_openssl_s_client(tmp_path: Path) -> None:
    certs = Certs(tmp_path)
    emit = Collector()
    source = SyslogSource(syslog("tls", tls=certs.tls(mutual=True)), make_ctx(tmp_path))
    messages = APACHE[:50]
    async with serving(source, emit) as port:
        proc = await asyncio.create_subprocess_exec(
            *("openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", "-no_ign_eof"),
            *("-CAfile", str(certs.ca_file), "-verify_return_error", "-verify_ip", "127.0.0.1"),
            *("-cert", str(certs.client_cert), "-key", str(certs.client_key)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(newline(messages)), 5)
        assert proc.returncode == 0, err.decode()
        await emit.wait_records(len(messages))
    assert emit.data() == messages


async def test_mutual_tls_refuses_a_client_without_certificate(tmp_path: Path) -> None:
    certs = Certs(tmp_path)
    emit = Collector()
    source = SyslogSource(syslog("tls", tls=certs.tls(mutual=True)), make_ctx(tmp_path))

    def anonymous(port: int) -> str:
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s,
            ):
                s.sendall(newline(AUTH[:1]))  # TLS 1.3: the server judges the client after this
                return "closed" if s.recv(100) == b"" else "answered"
        except ssl.SSLError as e:
            return e.reason or "ssl error"
        except ConnectionError:
            return "reset"

    async with serving(source, emit) as port:
        outcome = await asyncio.to_thread(anonymous, port)
        assert outcome in ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "closed", "reset"), outcome
        ctx = certs.client_context(with_cert=True)
        await asyncio.to_thread(send_tls, port, ctx, newline(AUTH[1:2]))
        await emit.wait_records(1)
        await asyncio.sleep(0.1)
    assert emit.data() == AUTH[1:2]  # the anonymous client's message never came in


async def test_tls_bad_key_file_is_a_clear_error(tmp_path: Path) -> None:
    certs = Certs(tmp_path)
    certs.key_file.write_text("not a key\n")
    source: Source = SyslogSource(syslog("tls", tls=certs.tls()), make_ctx(tmp_path))
    with pytest.raises(ListenError, match="'syslog': cannot load TLS files"):
        await source.run(Collector())

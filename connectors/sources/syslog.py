"""Syslog receiver: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425) on one address.

    source = SyslogSource(config, ctx)      # config: connectors.config.SyslogSource
    task = asyncio.create_task(source.run(emit))
    await source.started.wait()             # bound; source.port is the port (listen ...:0)

TCP and TLS: one task per connection frames the byte stream (RFC 6587:
octet counting or newline, ``config.framing``) and hands its frames to
``emit`` in batches of up to 500 records, at most 50 ms after the first one
arrived, and reads nothing more from that socket until ``emit`` returned.
So when the agent's spool is full the socket's buffers fill, the sender's
TCP window closes and the sender is slowed, never dropped. At most
``max_connections`` connections are served; past that, new ones are not
accepted and wait in the kernel's listen queue. A connection that ends in
the middle of a message ships what arrived of it (newline framing: as a
line; octet counting: a ``truncated`` error frame).

UDP: each datagram is one message (a trailing CR/LF is dropped). Datagrams
are batched per peer (500, or 50 ms). UDP cannot be slowed: while ``emit``
waits, at most one more batch is held, reading pauses, the socket's receive
buffer fills and the kernel drops what comes next. Those drops happen below
us, so they are not counted here; the kernel counts them (``RcvbufErrors``
in /proc/net/snmp, ``netstat -su``). ``datagrams_received`` counts what we
received.

Streams: ``tcp:<ip>:<port>#<run_id>`` per connection (``tls:`` likewise),
``udp:<ip>#<run_id>`` per peer (an IPv6 address in brackets); each batch's
``host`` is the peer's IP.
Push sources cannot re-read, so batches carry no checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from connectors.config import SyslogSource as SyslogConfig
from connectors.config import SyslogTls, split_listen
from connectors.errors import ListenError
from connectors.parse.framing import Frame, Framer
from connectors.sources.base import Batch, Emit, Source, SourceContext

BATCH_RECORDS = 500
BATCH_BYTES = 1 << 20
LINGER_S = 0.05
"""A batch is handed on at 500 records, 1 MiB, or 50 ms after its first record."""
_READ_BYTES = 1 << 16
_UDP_RCVBUF = 8 << 20
"""Receive buffer asked for the UDP socket (the kernel caps it at net.core.rmem_max)."""
_TLS_HANDSHAKE_S = 30.0
_BACKLOG = 1024


class SyslogSource(Source):
    config: SyslogConfig

    def __init__(self, config: SyslogConfig, ctx: SourceContext) -> None:
        super().__init__(config, ctx)
        self.started = asyncio.Event()
        """Set once the socket is bound (and cleared when ``run`` ends)."""
        self.port: int | None = None
        """The bound port, once started (the configured one, or the kernel's pick for 0)."""
        self.datagrams_received = 0
        self.connections_open = 0
        self.connections_accepted = 0
        self._streams = PushStreams(ctx.run_id)

    def ready(self) -> bool:
        return self.started.is_set()

    async def run(self, emit: Emit) -> None:
        cfg = self.config
        tls = None
        if cfg.protocol == "tls":
            tls = server_ssl_context(cfg.tls, source=self.name, tickets=False)
        kind = socket.SOCK_DGRAM if cfg.protocol == "udp" else socket.SOCK_STREAM
        sock = listen_socket(kind, cfg.listen, source=self.name, protocol=cfg.protocol)
        try:
            self.port = sock.getsockname()[1]
            self.ctx.log.info(
                "syslog source listening",
                extra={
                    "source": self.name,
                    "protocol": cfg.protocol,
                    "listen": cfg.listen,
                    "port": self.port,
                },
            )
            self.started.set()
            if cfg.protocol == "udp":
                await self._serve_udp(sock, emit)
            else:
                await self._serve_stream(sock, tls, emit)
        finally:
            self.started.clear()
            sock.close()

    # -- TCP and TLS ------------------------------------------------------------------

    async def _serve_stream(
        self, sock: socket.socket, tls: ssl.SSLContext | None, emit: Emit
    ) -> None:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.config.max_connections)
        warned = False
        async with asyncio.TaskGroup() as tasks:
            while True:
                if slots.locked() and not warned:
                    self.ctx.log.warning(
                        "syslog connection limit reached; new connections wait",
                        extra={"source": self.name, "max_connections": self.config.max_connections},
                    )
                warned = slots.locked()
                await slots.acquire()
                try:
                    conn, addr = await loop.sock_accept(sock)
                except OSError as e:  # out of file descriptors, say: wait, then go on
                    slots.release()
                    self.ctx.log.warning(
                        "syslog accept failed", extra={"source": self.name, "error": str(e)}
                    )
                    await asyncio.sleep(0.5)
                    continue
                self.connections_accepted += 1
                tasks.create_task(self._connection(conn, addr, tls, emit, slots))

    async def _connection(
        self,
        conn: socket.socket,
        addr: Any,
        tls: ssl.SSLContext | None,
        emit: Emit,
        slots: asyncio.Semaphore,
    ) -> None:
        """Serve one connection. A socket error ends it; an error of ``emit`` stops the source."""
        ip, port = peer_ip(addr[0]), addr[1]
        try:
            try:
                reader, writer = await asyncio.open_connection(sock=conn, limit=_READ_BYTES)
            except OSError as e:
                conn.close()
                self._ended(ip, e)
                return
            except BaseException:
                conn.close()
                raise
            session = None if tls is None else _TlsSession(tls, reader, writer)
            try:
                if session is not None and not await self._handshake(session, ip):
                    return
                stream = self._streams.open(f"{self.config.protocol}:{in_name(ip)}:{port}")
                self.connections_open += 1
                try:
                    read = reader.read if session is None else session.read
                    await self._read(read, stream, ip, emit)
                finally:
                    self.connections_open -= 1
                    self._streams.close(stream)
            finally:
                if session is not None:
                    session.close()
                writer.close()
        finally:
            slots.release()

    async def _handshake(self, session: _TlsSession, ip: str) -> bool:
        try:
            async with asyncio.timeout(_TLS_HANDSHAKE_S):
                await session.handshake()
        except OSError as e:  # ssl.SSLError, a reset, the timeout
            self.ctx.log.warning(
                "syslog TLS handshake failed",
                extra={"source": self.name, "peer": ip, "error": str(e) or type(e).__name__},
            )
            return False
        return True

    async def _read(
        self, read: Callable[[int], Awaitable[bytes]], stream: str, ip: str, emit: Emit
    ) -> None:
        """Frame the connection's bytes and emit them, reading no more while ``emit`` waits."""
        loop = asyncio.get_running_loop()
        framer = Framer(self.config.framing, max_frame=self.config.max_line_bytes)
        pending: list[Frame] = []
        pending_bytes = 0
        deadline: float | None = None
        while True:
            chunk: bytes | None
            linger = asyncio.timeout_at(deadline)
            try:
                async with linger:
                    chunk = await read(_READ_BYTES)
            except TimeoutError as e:
                chunk = None if linger.expired() else self._ended(ip, e)
            except OSError as e:  # reset, a TLS error: the end of this stream
                chunk = self._ended(ip, e)
            if chunk:
                frames = framer.feed(chunk)
                if frames and not pending:
                    deadline = loop.time() + LINGER_S
                pending += frames
                pending_bytes += sum(len(f.data) for f in frames)
                if len(pending) < BATCH_RECORDS and pending_bytes < BATCH_BYTES:
                    continue
            elif chunk is not None:  # end of stream: what is left of a message ships too
                pending += framer.flush()
            for i in range(0, len(pending), BATCH_RECORDS):
                await self._emit(emit, stream, ip, pending[i : i + BATCH_RECORDS])
            pending, pending_bytes, deadline = [], 0, None
            if chunk == b"":
                return

    def _ended(self, ip: str, error: OSError) -> bytes:
        self.ctx.log.debug(
            "syslog connection lost", extra={"source": self.name, "peer": ip, "error": str(error)}
        )
        return b""

    async def _emit(self, emit: Emit, stream: str, ip: str, frames: list[Frame]) -> None:
        first = self._streams.take(stream, len(frames))
        await emit(Batch(source=self.name, stream=stream, first_seq=first, records=frames, host=ip))

    # -- UDP --------------------------------------------------------------------------

    async def _serve_udp(self, sock: socket.socket, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        inbox = _Datagrams(self)
        transport, _ = await loop.create_datagram_endpoint(lambda: inbox, sock=sock)
        try:
            if not isinstance(transport, asyncio.ReadTransport):
                raise ListenError(f"source {self.name!r}: this event loop cannot pause UDP reading")
            inbox.transport = transport
            while True:
                await inbox.arrived.wait()
                if not inbox.full.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(LINGER_S):
                            await inbox.full.wait()
                by_peer: dict[str, list[Frame]] = {}
                for addr, data in inbox.take():
                    message = data.rstrip(b"\r\n")
                    if message:
                        frame = Frame(message, None, len(message))
                        by_peer.setdefault(peer_ip(addr[0]), []).append(frame)
                for ip, frames in by_peer.items():
                    await self._emit(emit, self._streams.name(f"udp:{in_name(ip)}"), ip, frames)
        finally:
            transport.close()


class _TlsSession:
    """Server-side TLS over a plain stream, which reads from the socket only when asked.

    asyncio's own TLS transport (3.11) drops the decrypted data it still
    holds when the peer closes while reading is paused, which is exactly
    the case under backpressure; here the socket is read only when more
    plain text is wanted, so flow control stays TCP's and everything sent
    before the close is delivered.
    """

    def __init__(
        self, ctx: ssl.SSLContext, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._reader, self._writer = reader, writer

    async def handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._receive()
            except ssl.SSLError:
                self._send()  # the alert tells the peer why
                raise
        self._send()

    async def read(self, size: int) -> bytes:
        """Plain text, b"" at the end (close_notify); ssl.SSLEOFError for a close without it."""
        while True:
            try:
                data = self._tls.read(size)
            except ssl.SSLWantReadError:
                await self._receive()
                continue
            except ssl.SSLZeroReturnError:
                data = b""
            self._send()
            return data

    def close(self) -> None:
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()  # close_notify; the peer's is not awaited
        with contextlib.suppress(OSError):
            self._send()

    async def _receive(self) -> None:
        self._send()
        data = await self._reader.read(_READ_BYTES)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def _send(self) -> None:
        data = self._outgoing.read()
        if data and not self._writer.is_closing():
            self._writer.write(data)  # handshake records, tickets, alerts: small


class _Datagrams(asyncio.DatagramProtocol):
    """Holds datagrams until the next batch; pauses reading while one batch is waiting."""

    def __init__(self, source: SyslogSource) -> None:
        self.source = source
        self.transport: asyncio.ReadTransport | None = None
        self.pending: list[tuple[Any, bytes]] = []
        self.pending_bytes = 0
        self.arrived = asyncio.Event()
        self.full = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.source.datagrams_received += 1
        self.pending.append((addr, data))
        self.pending_bytes += len(data)
        self.arrived.set()
        if len(self.pending) >= BATCH_RECORDS or self.pending_bytes >= BATCH_BYTES:
            self.full.set()
            if self.transport is not None:
                self.transport.pause_reading()

    def take(self) -> list[tuple[Any, bytes]]:
        out, self.pending, self.pending_bytes = self.pending, [], 0
        self.arrived.clear()
        self.full.clear()
        if self.transport is not None:
            self.transport.resume_reading()
        return out

    def error_received(self, exc: Exception) -> None:
        self.source.ctx.log.debug(
            "syslog UDP error", extra={"source": self.source.name, "error": str(exc)}
        )


# -- shared by the push sources (syslog, HTTP) -----------------------------------------


class PushStreams:
    """Stream names and numbers of a push source: no (stream, seq) is ever given twice.

    The SOC derives an event's id from its stream and seq, so a number given
    twice would overwrite an event. A name is ``<peer>#<run_id>``; when the
    same name comes back (a peer reconnecting from the same port), its
    numbers go on where they stopped. Memory stays bounded: once ``limit``
    names are known, those of closed streams are forgotten and later names
    end in ``#<run_id>.<n>``, which no earlier stream carried.
    """

    def __init__(self, run_id: str, *, limit: int = 65_536) -> None:
        self._run_id = run_id
        self._limit = limit
        self._generation = 0
        self._next: dict[str, int] = {}
        self._open: Counter[str] = Counter()

    def _named(self, peer: str) -> str:
        if self._generation:
            return f"{peer}#{self._run_id}.{self._generation}"
        return f"{peer}#{self._run_id}"

    def name(self, peer: str) -> str:
        """The current stream name for ``peer`` (e.g. ``udp:10.0.0.5``)."""
        name = self._named(peer)
        if name not in self._next and len(self._next) >= self._limit:
            self._generation += 1
            self._next = {s: n for s, n in self._next.items() if s in self._open}
            name = self._named(peer)
        self._next.setdefault(name, 0)
        return name

    def open(self, peer: str) -> str:
        """A stream for a connection: kept, with its numbers, until :meth:`close`."""
        name = self.name(peer)
        self._open[name] += 1
        return name

    def close(self, name: str) -> None:
        self._open[name] -= 1
        if self._open[name] <= 0:
            del self._open[name]

    def take(self, name: str, count: int) -> int:
        """The first of ``count`` consecutive numbers in stream ``name``."""
        first = self._next.get(name, 0)
        self._next[name] = first + count
        return first


def peer_ip(host: str) -> str:
    """A peer's address as text; an IPv4 peer on a dual-stack socket as plain IPv4."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def in_name(ip: str) -> str:
    """An address as part of a stream name: IPv6 in brackets (``tcp:[2001:db8::1]:601``)."""
    return f"[{ip}]" if ":" in ip else ip


def listen_socket(kind: int, listen: str, *, source: str, protocol: str) -> socket.socket:
    """A bound, non-blocking socket (listening, for TCP); ListenError names source and address."""
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    dualstack = host == "::" and socket.has_dualstack_ipv6()
    try:
        if kind == socket.SOCK_STREAM:
            sock = socket.create_server(
                (host, port), family=family, backlog=_BACKLOG, dualstack_ipv6=dualstack
            )
        else:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_RCVBUF)
                if dualstack:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.bind((host, port))
            except BaseException:
                sock.close()
                raise
    except OSError as e:
        reason = e.strerror or str(e)
        raise ListenError(
            f"source {source!r}: cannot listen on {protocol} {listen}: {reason}"
        ) from e
    sock.setblocking(False)
    return sock


def server_ssl_context(
    tls: SyslogTls | None, *, source: str, tickets: bool = True
) -> ssl.SSLContext:
    """TLS 1.2 or later with the configured certificate; with a client CA, mutual TLS.

    ``tickets=False``: no TLS 1.3 session tickets. A server sends those after
    the handshake, and a sender that only writes never reads them; when it
    closes with them unread, its kernel resets the connection and discards
    what it had not yet sent. Syslog senders only write.
    """
    if tls is None:
        raise ListenError(f"source {source!r}: TLS needs a tls: section (cert_file, key_file)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    if not tickets:
        ctx.num_tickets = 0
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.client_ca_file is not None:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        reason = getattr(e, "strerror", None) or str(e)
        raise ListenError(f"source {source!r}: cannot load TLS files: {reason}") from e
    return ctx

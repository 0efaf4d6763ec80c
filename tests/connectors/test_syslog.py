"""Syslog messages (RFC 5424, RFC 3164) and stream framing (RFC 6587).

The messages are the examples printed in RFC 5424 section 6.5 and RFC 3164
section 5.4: documented examples, not recordings.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.parse import Defaults, Frame, Framer, frame_events, parse
from connectors.parse.syslog import parse_syslog
from soc.models import LogSource
from tests.connectors._util import only

D = Defaults(now=datetime(2003, 12, 31, tzinfo=UTC))


def test_rfc5424_example_1() -> None:
    text = (
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        "\ufeff'su root' failed for lonvick on /dev/pts/8"
    )
    m = parse_syslog(text, defaults=D)
    assert (m.pri, m.facility, m.severity, m.version) == (34, "auth", "crit", 1)
    assert m.time == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert (m.hostname, m.app_name, m.procid, m.msgid) == (
        "mymachine.example.com",
        "su",
        None,
        "ID47",
    )
    assert m.structured_data is None
    assert m.body == "'su root' failed for lonvick on /dev/pts/8"
    ev = only(parse(text.encode(), format="syslog", defaults=D))
    assert ev.record["message"] == text  # the original, BOM and all
    assert ev.host == "mymachine.example.com"
    assert ev.logsource == LogSource(product="linux", service="auth")  # su is an auth program


def test_rfc5424_example_2() -> None:
    text = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."  # noqa: E501
    m = parse_syslog(text, defaults=D)
    assert (m.facility, m.severity) == ("local4", "notice")
    assert m.time == datetime(2003, 8, 24, 5, 14, 15, 3, tzinfo=timezone(timedelta(hours=-7)))
    assert (m.app_name, m.procid, m.msgid) == ("myproc", "8710", None)
    assert m.body == "%% It's time to make the do-nuts."
    ev = only(parse(text.encode(), format="syslog", defaults=D))
    assert ev.logsource == LogSource(product="linux", service="syslog")
    assert ev.record["program"] == "myproc" and "parse_error" not in ev.record


def test_rfc5424_examples_3_and_4_structured_data() -> None:
    head = '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'  # noqa: E501
    m3 = parse_syslog(head + " \ufeffAn application event log entry...", defaults=D)
    assert m3.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}
    }
    assert m3.body == "An application event log entry..."
    m4 = parse_syslog(head + '[examplePriority@32473 class="high"]', defaults=D)
    assert m4.structured_data is not None
    assert m4.structured_data["examplePriority@32473"] == {"class": "high"}
    assert m4.body == ""


def test_rfc5424_escapes_in_structured_data() -> None:
    m = parse_syslog(r'<13>1 - - - - - [a@1 p="q\"uo\]te\\"] x', defaults=D)
    assert m.structured_data == {"a@1": {"p": 'q"uo]te\\'}}
    assert m.time is None and m.body == "x"


def test_rfc3164_examples() -> None:
    m1 = parse_syslog(
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", defaults=D
    )
    assert (m1.facility, m1.severity, m1.hostname, m1.app_name) == (
        "auth",
        "crit",
        "mymachine",
        "su",
    )
    assert m1.time == datetime(2003, 10, 11, 22, 14, 15, tzinfo=UTC)  # year from Defaults.now
    assert m1.body == "'su root' failed for lonvick on /dev/pts/8"
    m2 = parse_syslog("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", defaults=D)
    assert (m2.hostname, m2.app_name, m2.body) == ("10.0.0.99", None, "Use the BFG!")
    assert m2.time == datetime(2003, 2, 5, 17, 32, 18, tzinfo=UTC)
    # The RFC's relayed examples with odd timestamps: kept, with what could be read.
    odd = [
        b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts. "
        b" %%  Ingredients: Mix=OK, Jared=Ok, Sugar=OK",
        b"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",  # noqa: E501
    ]
    for ev in parse(b"\n".join(odd), format="syslog", defaults=D):
        assert "parse_error" not in ev.record
        assert ev.record["facility"] in ("local4", "kern")


def test_rfc3164_zone_from_configuration() -> None:
    from zoneinfo import ZoneInfo

    d = Defaults(tz=ZoneInfo("Asia/Ho_Chi_Minh"), now=datetime(2003, 12, 31, tzinfo=UTC))
    m = parse_syslog("<34>Oct 11 22:14:15 mymachine su: x", defaults=d)
    assert m.time is not None and m.time.astimezone(UTC) == datetime(
        2003, 10, 11, 15, 14, 15, tzinfo=UTC
    )


def test_syslog_dispatches_by_body_and_program() -> None:
    lines = [
        b"<38>Mar 27 13:08:09 web1 sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2",
        b"<134>Sep 19 08:26:10 fw1 CEF:0|Security|threatmanager|1.0|100|worm successfully "
        b"stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
        b'<14>Mar 27 13:08:09 web1 audispd: node=web1 type=EXECVE msg=audit(1.0:2): argc=1 a0="id"',
        b'<190>Mar 27 13:08:09 web1 nginx: 1.2.3.4 - - [27/Mar/2017:13:08:09 +0000] "GET / '
        b'HTTP/1.1" 200 5 "-" "curl/8"',
    ]
    sshd, cef, audit, web = parse(b"\n".join(lines), format="syslog", defaults=D)
    assert sshd.logsource == LogSource(product="linux", service="sshd")
    assert (sshd.record["user"], sshd.record["severity"]) == ("root", "info")
    assert cef.logsource == LogSource(category="firewall")
    assert (cef.host, cef.record["hostname"], cef.record["src_ip"]) == ("fw1", "fw1", "10.0.0.1")
    assert audit.logsource == LogSource(product="linux", service="auditd")
    assert (audit.record["a0"], audit.record["message"]) == ("id", lines[2].decode())
    assert web.logsource == LogSource(product="nginx", category="webserver")
    assert web.record["cs-method"] == "GET" and web.host == "web1"


@pytest.mark.parametrize(
    "text",
    [
        "<999>Oct 11 22:14:15 x y: z",  # PRI out of range
        "<34>1 2003-13-45T99:99:99Z h a - - - x",  # 5424 with an impossible time
        "<34>1 2003-10-11T22:14:15Z h a - - [broken sd",  # 5424 with broken SD
        "no pri here",
    ],
)
def test_bad_syslog_is_kept_with_a_mark(text: str) -> None:
    ev = only(parse(text.encode(), format="syslog", defaults=D))
    assert ev.record["message"] == text
    assert ev.record["parse_error"] in ("unrecognized", "malformed")
    assert ev.record["parser"] == "syslog"


# --- framing --------------------------------------------------------------------------------

MESSAGES = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
    b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
    b"x" * 5000,  # over max_frame below: an error frame
    "<14>1 - h app - - - UTF-8 text: Huế \U0001f512".encode(),
    b"<14>Mar  1 00:00:00 h a: " + b"y" * 1990,  # just under max_frame
    b"z",
]
MAX = 2048


def _expected() -> list[Frame]:
    out = []
    for m in MESSAGES:
        if len(m) > MAX:
            out.append(Frame(m[:100], "too_large", len(m)))
        else:
            out.append(Frame(m, None, len(m)))
    return out


def _run(mode: str, data: bytes, sizes: list[int] | None) -> list[Frame]:
    framer = Framer(mode, max_frame=MAX, head=100)  # type: ignore[arg-type]
    out: list[Frame] = []
    pos = 0
    for n in sizes or [len(data)]:
        out += framer.feed(data[pos : pos + n])
        pos += n
    out += framer.feed(data[pos:])
    return out + framer.flush()


def _chunkings(data: bytes) -> dict[str, list[int] | None]:
    rng = random.Random(20260805)
    chunkings: dict[str, list[int] | None] = {"whole": None, "bytes": [1] * len(data)}
    for i in range(5):
        sizes, total = [], 0
        while total < len(data):
            sizes.append(rng.randint(1, 700))
            total += sizes[-1]
        chunkings[f"random{i}"] = sizes
    return chunkings


@pytest.mark.parametrize("mode", ["newline", "auto"])
def test_newline_framing_across_chunk_boundaries(mode: str) -> None:
    data = b"".join(m + (b"\r\n" if i % 2 else b"\n") for i, m in enumerate(MESSAGES))
    for name, sizes in _chunkings(data).items():
        assert _run(mode, data, sizes) == _expected(), name


@pytest.mark.parametrize("mode", ["octet", "auto"])
def test_octet_counted_framing_across_chunk_boundaries(mode: str) -> None:
    data = b"".join(str(len(m)).encode() + b" " + m for m in MESSAGES)
    for name, sizes in _chunkings(data).items():
        assert _run(mode, data, sizes) == _expected(), name


def test_octet_counting_keeps_newlines_inside_a_message() -> None:
    msg = b"<14>1 - h a - - - line one\nline two"
    assert _run("octet", str(len(msg)).encode() + b" " + msg, None) == [Frame(msg, None, len(msg))]


def test_framing_errors_are_frames_not_losses() -> None:
    # A bad length header is read up to the next LF and marked; the stream goes on.
    frames = _run("octet", b"abc def\n5 hello", None)
    assert frames == [Frame(b"abc def", "bad_header", 7), Frame(b"hello", None, 5)]
    # A stream cut inside an octet-counted message, or inside an oversized one.
    assert _run("octet", b"10 hello", None) == [Frame(b"10 hello", "truncated", 8)]
    assert _run("octet", b"3000 " + b"a" * 500, None) == [Frame(b"a" * 100, "truncated", 3000)]
    # A last line without LF is a message.
    assert _run("newline", b"a\nb", None) == [Frame(b"a", None, 1), Frame(b"b", None, 1)]
    # An unterminated oversized line is not buffered whole.
    framer = Framer("newline", max_frame=MAX, head=100)
    for _ in range(100):
        assert framer.feed(b"q" * 1000) == []
    assert len(framer._buf) < MAX + 1000
    assert framer.flush() == [Frame(b"q" * 100, "too_large", 100_000)]


def test_frames_become_events() -> None:
    big = frame_events(Frame(b"<14>1 abc", "too_large", 5_000_000), format="syslog")
    assert only(big).record["parse_error"] == "too_large"
    assert only(big).record["size"] == 5_000_000
    ok = frame_events(Frame(MESSAGES[1], "bad_header", len(MESSAGES[1])), format="syslog")
    assert only(ok).record["framing_error"] == "bad_header"
    assert only(ok).record["body"] == "Use the BFG!"

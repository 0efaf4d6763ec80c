"""Every format on broken input: one event per line, a clear mark, no exception, nothing lost."""

from __future__ import annotations

import base64
import random

import pytest

from connectors.parse import FORMATS, HEAD_BYTES, Defaults, parse
from soc.models import LogSource
from tests.connectors._util import only

GOOD = {
    "syslog": b"<38>Mar 27 13:08:09 h sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2",
    "auth": b"Mar 27 13:08:09 h sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2",
    "auditd": b'type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e exe="/bin/cat"',
    "apache": b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"',
    "nginx": b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"',
    "cef": b"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1",
    "fortigate": b'date=2019-05-13 time=11:20:54 logid="0100044547" type="event" action="Add"',
    "cloudtrail": b'{"eventSource": "ec2.amazonaws.com", "eventName": "StartInstances"}',
    "k8s-audit": b'{"apiVersion": "audit.k8s.io/v1", "kind": "Event", "verb": "get"}',
    "json": b'{"a": 1}',
    "windows-json": b'{"Channel": "Security", "EventID": 4624}',
    # A record of OTRF's recorded kerberos.log (campaign 06) as Zeek's streaming JSON writes it.
    "zeek": b'{"ts": 1693979104.321777, "uid": "CrytqjZjyABWnn1ik", "id.orig_h": "192.168.56.30", '
    b'"id.orig_p": 56452, "id.resp_h": "192.168.56.4", "id.resp_p": 88, "client": '
    b'"pedro.gustavo/PANDALAB.COM", "service": "krbtgt/PANDALAB.COM", "success": true, '
    b'"cipher": "aes256-cts-hmac-sha1-96", "_path": "kerberos"}',
    "auto": b"Mar 27 13:08:09 h sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2",
}
CONFIGURED = LogSource(product="linux", service="syslog")
D = Defaults(logsource=CONFIGURED, host="collector1", source="tcp-514")


def test_every_format_has_a_good_line() -> None:
    assert set(GOOD) == FORMATS
    for fmt, line in GOOD.items():
        ev = only(parse(line, format=fmt, defaults=D))
        assert "parse_error" not in ev.record, (fmt, ev.record)


def _garbage(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_truncated_lines(fmt: str) -> None:
    good = GOOD[fmt]
    for cut in (1, 5, len(good) // 2, len(good) - 3):
        ev = only(parse(good[:cut], format=fmt, defaults=D))
        assert ev.record["message"] == good[:cut].decode()
        if "parse_error" in ev.record:
            assert ev.record["parser"] == fmt
            assert ev.record["parse_error"] in ("unrecognized", "malformed", "not_json")
            assert ev.logsource == CONFIGURED and ev.host == "collector1"
            assert ev.source == "tcp-514"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_binary_garbage(fmt: str) -> None:
    for seed in range(20):
        raw = _garbage(seed, 300).replace(b"\n", b"").replace(b"\r", b"")
        ev = only(parse(raw, format=fmt, defaults=D))
        assert ev.record["parse_error"] in ("unrecognized", "malformed", "not_json")
        assert ev.record["encoding_error"] == "invalid_utf8"
        assert base64.b64decode(ev.record["raw_b64"]) == raw  # the bytes are kept


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_garbage_stream_gives_one_event_per_line(fmt: str) -> None:
    head = _garbage(7, 64 * 1024)
    data = head + b"\n" + GOOD[fmt] + b"\n" + _garbage(8, 4096)
    lines = data.split(b"\n")
    events = parse(data, format=fmt, defaults=D)
    assert len(events) == len(lines)
    good_line = head.count(b"\n") + 1
    assert "parse_error" not in events[good_line].record
    assert events[good_line].record.get("message", GOOD[fmt].decode()) == GOOD[fmt].decode()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_huge_line(fmt: str) -> None:
    huge = GOOD[fmt] + b"A" * (2 * 1024 * 1024)
    data = GOOD[fmt] + b"\n" + huge + b"\n" + GOOD[fmt]
    before, big, after = parse(data, format=fmt, defaults=D)
    assert big.record["parse_error"] == "too_large"
    assert big.record["size"] == len(huge)
    assert len(big.record["message"]) == HEAD_BYTES and huge.startswith(
        big.record["message"].encode()
    )
    assert len(big.record["sha256"]) == 64
    assert "parse_error" not in before.record and "parse_error" not in after.record
    small = Defaults(max_line_bytes=4)
    assert only(parse(GOOD[fmt], format=fmt, defaults=small)).record["parse_error"] == "too_large"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_wrong_encodings(fmt: str) -> None:
    text = GOOD[fmt].decode()
    for raw in (
        text.encode("utf-16"),
        text.encode("utf-16-le"),
        ("\u00e9" + text).encode("latin-1"),
    ):
        ev = only(parse(raw, format=fmt, defaults=D))
        assert ev.record["encoding_error"] in ("utf16", "invalid_utf8")
        assert base64.b64decode(ev.record["raw_b64"]) == raw
    # UTF-16 text is recognised as such and parses.
    ev = only(parse(text.encode("utf-16"), format=fmt, defaults=D))
    assert ev.record["encoding_error"] == "utf16" and "parse_error" not in ev.record


def test_latin1_auth_line_still_parses_with_a_mark() -> None:
    raw = "Mar 27 13:08:09 h sshd[1]: Failed password for jörg from 1.2.3.4 port 22 ssh2".encode(
        "latin-1"
    )
    ev = only(parse(raw, format="auth"))
    assert ev.record["user"] == "j\ufffdrg" and ev.record["encoding_error"] == "invalid_utf8"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_empty_and_blank_lines(fmt: str) -> None:
    events = parse(b"\n \n\r\n" + GOOD[fmt], format=fmt, defaults=D)
    assert [e.record.get("parse_error") for e in events] == ["empty", "empty", "empty", None]
    assert parse(b"", format=fmt) == []


def test_unknown_format_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        parse(b"x", format="xml")


def test_a_parser_bug_ships_the_line_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.parse import dispatch

    def broken(text: str, d: Defaults) -> list[object]:
        raise KeyError("boom")

    monkeypatch.setitem(dispatch._PARSERS, "auth", broken)
    ev = only(parse(GOOD["auth"], format="auth", defaults=D))
    assert ev.record["parse_error"] == "internal" and "KeyError" in ev.record["parse_error_detail"]

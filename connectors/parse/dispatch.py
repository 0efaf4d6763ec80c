"""The entry point: bytes in a named (or sniffed) format to events; never raises, never drops.

    parse(data, format="auth", defaults=Defaults(host=..., logsource=...)) -> [EventIn, ...]
    parse_frame(frame, format="syslog", defaults=d) -> [EventIn, ...]     # one framed message

Line formats give exactly one event per line (``\\n``-separated; a trailing
``\\r`` is dropped): a line no parser understands, a blank line, or one over
``Defaults.max_line_bytes`` becomes an error event (``record.parse_error``,
see _base.py) carrying the line's text. JSON formats first read ``data`` as
one document (a CloudTrail file, a Kubernetes EventList, an array, or a
pretty-printed object) and give one event per record; when it is not one
document, each line is a JSON value of its own.

Formats: auto, syslog, auth, auditd, apache, nginx, cef, fortigate, zeek,
cloudtrail, k8s-audit, json, windows-json. ``zeek`` (zeek.py) is read with
state: a Zeek TSV log's header lines give no event and set how the lines after
them read, over the whole of ``data`` in :func:`parse`, and across calls with
the ``zeek`` reader a caller keeps per stream (the agent does) in
:func:`parse_frame`. ``auto`` sniffs each line: JSON,
syslog with PRI, CEF, audit, FortiGate, a BSD syslog header (auth programs as
``auth``, the rest as syslog), access log. Syslog messages are dispatched on
their body and program: CEF, FortiGate, audit and access-log bodies to those
parsers, auth programs (sshd, sudo, su, CRON, ...) to linux_auth, the rest
kept as generic syslog (logsource: the configured one, else linux/syslog).
An unknown format name is a configuration error: ValueError at the call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import (
    Defaults,
    Line,
    decode_line,
    error_event,
    event,
    too_large_event,
)
from connectors.parse.access_log import is_access_line, parse_access_line
from connectors.parse.auditd import is_auditd, parse_auditd_line
from connectors.parse.cef import find_cef, parse_cef
from connectors.parse.fortigate import find_fortigate, parse_fortigate
from connectors.parse.framing import Frame
from connectors.parse.json_records import json_event, json_items
from connectors.parse.linux_auth import AUTH_PROGRAMS, auth_event
from connectors.parse.syslog import SyslogMessage, parse_bsd, parse_syslog
from connectors.parse.zeek import zeek_events
from soc.ingest.zeek import ZeekReader
from soc.models import EventIn, LogSource

LOGSOURCE_SYSLOG = LogSource(product="linux", service="syslog")
JSON_FORMATS = frozenset({"cloudtrail", "k8s-audit", "json", "windows-json"})
LINE_FORMATS = frozenset(
    {"syslog", "auth", "auditd", "apache", "nginx", "cef", "fortigate", "zeek"}
)
FORMATS = frozenset({"auto"}) | JSON_FORMATS | LINE_FORMATS
MAX_DOCUMENT_BYTES = 256 << 20
"""Largest input read as one JSON document (CloudTrail files are far smaller)."""

_Parser = Callable[[str, Defaults], list[EventIn]]


def parse(data: bytes, *, format: str = "auto", defaults: Defaults | None = None) -> list[EventIn]:
    """Every event in ``data``; see the module docstring. Raises only for an unknown format."""
    return list(iter_parse(data, format=format, defaults=defaults))


def iter_parse(
    data: bytes, *, format: str = "auto", defaults: Defaults | None = None
) -> Iterator[EventIn]:
    """As :func:`parse`, one event at a time."""
    d = defaults or Defaults()
    _check(format)
    if format in JSON_FORMATS or format == "auto":
        document = _document(data, format, d)
        if document is not None:
            yield from document
            return
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line; it does not start another
    zeek = ZeekReader() if format == "zeek" else None
    for raw in lines:
        yield from parse_frame(raw.removesuffix(b"\r"), format=format, defaults=d, zeek=zeek)


def parse_frame(
    raw: bytes, *, format: str, defaults: Defaults | None = None, zeek: ZeekReader | None = None
) -> list[EventIn]:
    """The events of one line or framed message (one, except for a JSON document of many,
    and none for a Zeek header line); ``zeek``: the stream's reader, for the zeek format."""
    d = defaults or Defaults()
    _check(format)
    if len(raw) > d.max_line_bytes:
        return [too_large_event(raw, parser=format, defaults=d)]
    line = decode_line(raw)
    if not line.text.strip():
        return [error_event(line, reason="empty", parser=format, defaults=d, detail="blank line")]
    try:
        if format == "zeek":
            events = zeek_events(line, zeek or ZeekReader(), defaults=d)
        else:
            events = _PARSERS[format](line.text, d)
    except ParseError as e:
        return [error_event(line, reason=e.reason, parser=format, defaults=d, detail=e.detail)]
    except Exception as e:  # the contract is never to raise on input: a parser bug ships raw
        detail = f"{type(e).__name__}: {e}"
        return [error_event(line, reason="internal", parser=format, defaults=d, detail=detail)]
    for ev in events:
        for key, value in line.marks.items():
            ev.record.setdefault(key, value)
    return events


def frame_events(
    frame: Frame, *, format: str, defaults: Defaults | None = None, zeek: ZeekReader | None = None
) -> list[EventIn]:
    """The events of a frame from :class:`~connectors.parse.framing.Framer`, error frames too.

    An oversized frame gives a ``too_large`` error event with the frame's head
    and full size; a cut-off one a ``truncated`` one; a frame whose octet-count
    header was wrong is parsed as a line and marked ``framing_error``.
    """
    d = defaults or Defaults()
    _check(format)
    if frame.error in ("too_large", "truncated"):
        detail = f"message is {frame.size} bytes" + (
            f"; the limit is {d.max_line_bytes}" if frame.error == "too_large" else ", cut off"
        )
        extra = {"size": frame.size, "truncated": True}
        return [
            error_event(
                decode_line(frame.data),
                reason=frame.error,
                parser=format,
                defaults=d,
                detail=detail,
                extra=extra,
            )
        ]
    events = parse_frame(frame.data, format=format, defaults=d, zeek=zeek)
    if frame.error:
        for ev in events:
            ev.record.setdefault("framing_error", frame.error)
    return events


def _check(format: str) -> None:
    if format not in FORMATS:
        raise ValueError(f"unknown log format {format!r}; one of {sorted(FORMATS)}")


def _document(data: bytes, format: str, d: Defaults) -> list[EventIn] | None:
    """The events of ``data`` read as one JSON document with several records, else None."""
    head = data.lstrip()[:1]
    if head not in (b"{", b"[") or len(data) > MAX_DOCUMENT_BYTES:
        return None
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return None  # NDJSON, or broken: judged line by line
    items = json_items(obj, format)
    if len(items) == 1 and b"\n" not in data.strip():
        return None  # one line, one object: the line path applies the size limit
    return [_json_item(item, format, d) for item in items]


def _json_item(item: Any, kind: str, d: Defaults) -> EventIn:
    try:
        return json_event(item, kind, defaults=d)
    except ParseError as e:
        text = json.dumps(item, ensure_ascii=False)[: d.max_line_bytes]
        return error_event(Line(text), reason=e.reason, parser=kind, defaults=d, detail=e.detail)
    except Exception as e:  # as parse_frame: a parser bug ships the record raw (tests/fuzz
        # counts one as a finding); a document's records are not under parse_frame's net
        text = json.dumps(item, ensure_ascii=False, default=str)[: d.max_line_bytes]
        detail = f"{type(e).__name__}: {e}"
        return error_event(Line(text), reason="internal", parser=kind, defaults=d, detail=detail)


def _json_line(kind: str) -> _Parser:
    def parse_json(text: str, d: Defaults) -> list[EventIn]:
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise ParseError("not_json", f"not valid JSON: {e}") from e
        items = json_items(obj, kind)
        if not items:
            raise ParseError("malformed", "an empty JSON document")
        return [_json_item(item, kind, d) for item in items]

    return parse_json


def _syslog(text: str, d: Defaults, *, auth: bool = False) -> list[EventIn]:
    parse_header = parse_syslog if text.startswith("<") else parse_bsd
    header = parse_header(text, defaults=d)
    return [_syslog_body(text, header, d, auth=auth)]


def _syslog_body(text: str, header: SyslogMessage, d: Defaults, *, auth: bool) -> EventIn:
    """A syslog message to the parser its body or program calls for."""
    body = header.body
    at = len(text) - len(body)
    fields = header.fields()
    del fields["body"]
    if body.startswith("CEF:"):
        return parse_cef(text, defaults=d, start=at, extra=fields)
    if find_fortigate(body) == 0:
        return parse_fortigate(text, defaults=d, start=at, extra=fields)
    if is_auditd(body):
        ev = parse_auditd_line(body, defaults=d)
        return _rewrap(ev, text, fields)
    program = header.app_name or ""
    if auth or program in AUTH_PROGRAMS:
        return auth_event(text, header, defaults=d)
    if is_access_line(body):
        product = program if program in ("apache", "apache2", "httpd", "nginx") else None
        product = "apache" if product in ("apache2", "httpd") else product
        return _rewrap(parse_access_line(body, defaults=d, product=product), text, fields)
    return event(
        {"message": text, **header.fields()},
        defaults=d,
        logsource=d.logsource or LOGSOURCE_SYSLOG,
        time=header.time,
        host=header.hostname,
    )


def _rewrap(ev: EventIn, text: str, fields: dict[str, Any]) -> EventIn:
    """An event parsed from a syslog body: the whole line as message, the header as fields."""
    ev.record["message"] = text
    for key, value in fields.items():
        ev.record.setdefault(key, value)
    if ev.host is None and isinstance(fields.get("hostname"), str):
        ev.host = fields["hostname"] if len(fields["hostname"]) <= 255 else None
    return ev


def _auto(text: str, d: Defaults) -> list[EventIn]:
    s = text.lstrip()
    if s[:1] in ("{", "["):
        return _json_line("auto")(text, d)
    if s[:1] == "<" and s[1:2].isdigit():
        return _syslog(text, d)
    if s.startswith("CEF:"):
        return [parse_cef(text, defaults=d)]
    if is_auditd(text):
        return [parse_auditd_line(text, defaults=d)]
    if find_fortigate(text) == 0:
        return [parse_fortigate(text, defaults=d)]
    try:
        header = parse_bsd(text, defaults=d)
    except ParseError:
        try:
            return [parse_access_line(text, defaults=d)]
        except ParseError:
            raise ParseError("unrecognized", "no known log format matches") from None
    return [_syslog_body(text, header, d, auth=False)]


def _cef(text: str, d: Defaults) -> list[EventIn]:
    at = find_cef(text)
    if at <= 0:
        return [parse_cef(text, defaults=d)]
    return _syslog(text, d)  # a syslog header in front


def _fortigate(text: str, d: Defaults) -> list[EventIn]:
    at = find_fortigate(text)
    if at <= 0:
        return [parse_fortigate(text, defaults=d)]
    return _syslog(text, d)


_PARSERS: dict[str, _Parser] = {
    "auto": _auto,
    "syslog": _syslog,
    "auth": lambda t, d: _syslog(t, d, auth=True),
    "auditd": lambda t, d: (
        _syslog(t, d) if t.startswith("<") else [parse_auditd_line(t, defaults=d)]
    ),
    "apache": lambda t, d: [parse_access_line(t, defaults=d, product="apache")],
    "nginx": lambda t, d: [parse_access_line(t, defaults=d, product="nginx")],
    "cef": _cef,
    "fortigate": _fortigate,
    "cloudtrail": _json_line("cloudtrail"),
    "k8s-audit": _json_line("k8s-audit"),
    "json": _json_line("json"),
    "windows-json": _json_line("windows-json"),
}

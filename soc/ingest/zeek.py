"""Zeek's logs, TSV and JSON, as records under SigmaHQ's ``product: zeek`` logsources.

    reader = ZeekReader(name="conn.log")   # the file's name names the log when nothing else does
    for line in text.splitlines():
        rec = reader.line(line)                # None for a header line; ZeekError for a bad line
        rec.record  # {"ts": 1693979002.059903, "uid": "Czp6...", "id.orig_h": "192.168.56.30",
                    #  "id.orig_p": 56791, ..., "_path": "conn"}
        rec.time, rec.logsource                # 2023-09-06T05:43:22Z, zeek/conn

TSV (Zeek's ASCII writer): ``#separator``, ``#set_separator``, ``#empty_field``,
``#unset_field``, ``#path``, ``#fields`` and ``#types`` set how the lines after
them read; a new header block (several logs concatenated) replaces the old one;
``#open``/``#close`` change nothing. None of them is a record; any other line
starting with ``#`` is refused (ZeekError), so that nothing is passed over
unsaid. Values are converted by their ``#types``: time and interval and double
to floats (seconds), count, int and port to integers, bool ``T``/``F`` to
booleans, set[...] and vector[...] to lists (split on the set separator, each
element converted), the rest kept as text with Zeek's ``\\xHH`` escapes decoded.
An unset value (``-``) is left out of the record, as Zeek's JSON writer leaves
it out; ``(empty)`` is ``""`` or ``[]``.

JSON (one object a line, Zeek's ``LogAscii::use_json`` or json-streaming-logs):
the object is the record, its names already Zeek's dotted ones. ``ts`` may be
epoch seconds or ISO 8601.

Either way the log's name (``_path`` in the record, else ``#path``, else the
file name up to its first dot: ``conn.log``, ``dns.04:00:00-05:00:00.log.gz``,
``http.json``) is the logsource's service, as in Sigma's taxonomy (conn, dns,
http, kerberos, smb_files, x509, dce_rpc, rdp, ...), and is kept in the record
as ``_path``. A dns record also gets ``category: dns`` so that SigmaHQ's generic
``category: dns`` rules (which match ``query`` too) run on it beside the zeek ones.

Host: none is taken from the record. Zeek is a sensor watching traffic between
two hosts, and neither ``id.orig_h`` nor ``id.resp_h`` is "the" host of a
record (x509, files and pe records have neither); the event's host is the
sensor's (a connector's ``host``), and both addresses stay fields that rules
and observables use.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from soc.errors import InputError
from soc.models import LogSource

PRODUCT = "zeek"
_PATH_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_INTEGER_TYPES = frozenset({"count", "int", "port", "counter"})
_FLOAT_TYPES = frozenset({"time", "interval", "double"})


class ZeekError(InputError, ValueError):
    """A line that is not a valid record of the log it is in; the message says why."""

    def __init__(self, detail: str) -> None:
        super().__init__("invalid", detail)


@dataclass(frozen=True, slots=True)
class ZeekRecord:
    record: dict[str, Any]
    time: datetime | None
    logsource: LogSource


@dataclass(slots=True)
class Header:
    """What a TSV log's ``#`` lines have said so far."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


STANDARD_LOGS = frozenset(
    {
        *("analyzer", "broker", "capture_loss", "cluster", "config", "conn", "dce_rpc", "dhcp"),
        *("dnp3", "dns", "dpd", "files", "ftp", "http", "intel", "irc", "kerberos"),
        *("known_certs", "known_hosts", "known_services", "loaded_scripts", "modbus"),
        *("mqtt_connect", "mqtt_publish", "mqtt_subscribe", "mysql", "notice", "ntlm", "ntp"),
        *("ocsp", "packet_filter", "pe", "quic", "radius", "rdp", "reporter", "rfb"),
        *("signatures", "sip", "smb_files", "smb_mapping", "smtp", "snmp", "socks", "software"),
        *("ssh", "ssl", "stats", "syslog", "traceroute", "tunnel", "weird", "weird_stats"),
        "x509",
    }
)
"""The logs a stock Zeek writes: a JSON file named after one of them is taken as Zeek's."""


def zeek_logsource(fields: dict[str, Any]) -> LogSource | None:
    """The logsource of a record that says it is Zeek's (``_path`` and ``ts``), else None.

    So that Zeek records shipped as plain JSON (a JSON-streaming Zeek, Filebeat, an
    NDJSON post) are routed to the zeek rules as the connector's are.
    """
    path = fields.get("_path")
    if isinstance(path, str) and "ts" in fields and _PATH_NAME.match(path):
        return logsource(path)
    return None


def stated_time(fields: dict[str, Any]) -> datetime | None:
    """A Zeek record's ``ts`` as its time, None when it is not a Zeek record (or has none).

    ZeekError when ``ts`` is broken."""
    return _time(fields.get("ts")) if zeek_logsource(fields) is not None else None


def path_from_name(name: str | None) -> str | None:
    """The log a file name names (``conn.log`` -> ``conn``), None when it names none."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    stem = base.split(".", 1)[0]
    return stem if _PATH_NAME.match(stem) else None


def logsource(path: str) -> LogSource:
    """Sigma's logsource for a Zeek log: product zeek, the log as service."""
    return LogSource(product=PRODUCT, service=path, category="dns" if path == "dns" else None)


def is_tsv_header(text: str) -> bool:
    """The first line of a Zeek TSV log."""
    return text.startswith("#separator ")


def unescape(text: str) -> str:
    """Zeek's ``\\xHH`` escapes decoded."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "\\x" in text else text


class ZeekReader:
    """Lines of one Zeek log file (TSV or JSON) to records; it keeps the TSV header read."""

    def __init__(self, name: str | None = None) -> None:
        self.name_path = path_from_name(name)
        self.header = Header()

    @property
    def has_header(self) -> bool:
        return bool(self.header.fields)

    def line(self, text: str) -> ZeekRecord | None:
        """The record of one line; None for a header or comment line; ZeekError when bad."""
        if text.startswith("#"):
            if not self._directive(text):
                raise ZeekError(f"not a Zeek header line: {text[:40]!r}")
            return None
        if text.lstrip().startswith("{"):
            return self.json_line(text)
        return self.tsv_line(text)

    def _directive(self, text: str) -> bool:
        """Take in a header line; False when it is none of those Zeek writes."""
        h = self.header
        if text.startswith("#separator "):
            # A new log starts (files concatenated): its header replaces the last one.
            self.header = Header(separator=unescape(text[len("#separator ") :]) or "\t")
            return True
        key, _, value = text[1:].partition(h.separator)
        if key == "set_separator":
            h.set_separator = unescape(value)
        elif key == "empty_field":
            h.empty_field = value
        elif key == "unset_field":
            h.unset_field = value
        elif key == "path":
            h.path = value if _PATH_NAME.match(value) else None
        elif key == "fields":
            h.fields = value.split(h.separator)
        elif key == "types":
            h.types = value.split(h.separator)
        else:
            return key in ("open", "close")  # when the log was opened and closed: no state
        return True

    def tsv_line(self, text: str) -> ZeekRecord:
        h = self.header
        if not h.fields:
            raise ZeekError("a TSV line before any #fields header (not a Zeek log, or cut)")
        values = text.split(h.separator)
        if len(values) != len(h.fields):
            raise ZeekError(f"{len(values)} columns; the #fields header names {len(h.fields)}")
        path = h.path or self.name_path
        if path is None:
            raise ZeekError("no #path header and the file name names no Zeek log")
        types = h.types if len(h.types) == len(h.fields) else ["string"] * len(h.fields)
        record: dict[str, Any] = {}
        for name, kind, raw in zip(h.fields, types, values, strict=True):
            if raw == h.unset_field:
                continue
            try:
                record[name] = self._value(raw, kind)
            except ValueError as e:
                raise ZeekError(f"field {name!r} ({kind}): {e}") from None
        record["_path"] = path
        return ZeekRecord(record, _time(record.get("ts")), logsource(path))

    def _value(self, raw: str, kind: str) -> Any:
        h = self.header
        if kind.startswith(("set[", "vector[", "table[")):
            if raw == h.empty_field:
                return []
            inner = kind[kind.index("[") + 1 : -1]
            return [
                None if item == h.unset_field else _scalar(unescape(item), inner)
                for item in raw.split(h.set_separator)
            ]
        if raw == h.empty_field:
            return ""
        return _scalar(unescape(raw), kind)

    def json_line(self, text: str) -> ZeekRecord:
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise ZeekError(f"not valid JSON: {e}") from None
        return self.json_record(obj)

    def json_record(self, obj: Any) -> ZeekRecord:
        if not isinstance(obj, dict) or not obj:
            raise ZeekError("a Zeek JSON line must be a non-empty object")
        given = obj.get("_path")
        path = given if isinstance(given, str) and _PATH_NAME.match(given) else self.name_path
        if path is None:
            raise ZeekError("no _path in the record and the file name names no Zeek log")
        record = dict(obj)
        record["_path"] = path
        return ZeekRecord(record, _time(record.get("ts")), logsource(path))


def _scalar(text: str, kind: str) -> Any:
    if kind in _INTEGER_TYPES:
        return int(text)
    if kind in _FLOAT_TYPES:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {text[:40]!r}")
        return value
    if kind == "bool":
        if text not in ("T", "F"):
            raise ValueError(f"not T or F: {text[:40]!r}")
        return text == "T"
    return text


def _time(ts: Any) -> datetime | None:
    """The record's ``ts``: epoch seconds (TSV, JSON) or ISO 8601 (JSON's ISO option)."""
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        try:
            return datetime.fromtimestamp(ts, UTC)
        except (OverflowError, OSError, ValueError):
            raise ZeekError(f"ts is out of range: {ts}") from None
    if isinstance(ts, str):
        text = ts[:-1] + "+00:00" if ts.endswith("Z") else ts
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise ZeekError(f"ts is not a time: {ts[:40]!r}") from None
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return None

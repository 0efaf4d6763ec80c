"""ArcSight Common Event Format (CEF), bare or behind a syslog header.

    parse_cef("CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 "
              "dst=2.1.2.2 spt=1232", defaults=d)
        -> record {"message": <the line>, "cef_version": 0, "device_vendor": "Security",
                   "device_product": "threatmanager", "device_version": "1.0",
                   "signature_id": "100", "name": "worm successfully stopped",
                   "cef_severity": "10", "src": "10.0.0.1", "dst": "2.1.2.2", "spt": "1232",
                   "src_ip": "10.0.0.1", "dst_ip": "2.1.2.2", "src_port": 1232}

Header escapes ``\\|`` and ``\\\\``; extension escapes ``\\=``, ``\\\\``,
``\\n`` and ``\\r``. A value runs to the next unescaped `` key=``, so values
may hold spaces. Extension keys are kept as written; the common ones are also
given under the names of Sigma's firewall taxonomy (``src_ip``, ``dst_ip``,
``src_port``, ``dst_port``, ``action``, ``user``, ``app``...).

Logsource: Fortinet FortiGate's CEF gives ``product: fortigate`` with its
log type as the service (``event``, ``traffic``, ``utm``), and its
``FTNTFGT``-prefixed keys also under FortiGate's own names (``cfgpath``...),
as SigmaHQ's FortiGate rules expect. Any other vendor gets the connector's
configured logsource, else ``category: firewall``. Time is ``rt`` when given
as epoch milliseconds; other spellings are left to ingest.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults, event
from soc.models import EventIn, LogSource

LOGSOURCE_FIREWALL = LogSource(category="firewall")

_HEADER_NAMES = (
    "cef_version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "cef_severity",
)
_HEADER_SPLIT = re.compile(r"(?<!\\)((?:\\\\)*)\|")
_HEADER_UNESCAPE = re.compile(r"\\([\\|])")
_EXT_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\-\[\]]+)=")
_EXT_UNESCAPE = re.compile(r"\\([\\=nr])")
_EXT_ESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}
_ALIASES = {
    "src": "src_ip",
    "dst": "dst_ip",
    "spt": "src_port",
    "dpt": "dst_port",
    "act": "action",
    "suser": "user",
    "duser": "dst_user",
    "app": "app",
    "proto": "proto",
    "shost": "src_host",
    "dhost": "dst_host",
    "request": "url",
}
_FORTINET_PREFIX = "FTNTFGT"


def find_cef(text: str) -> int:
    """Where ``CEF:`` starts in a line (bare or after a syslog header), or -1."""
    at = text.find("CEF:")
    return at if at >= 0 and _HEADER_SPLIT.search(text, at) is not None else -1


def parse_cef(
    text: str, *, defaults: Defaults, start: int = 0, extra: dict[str, Any] | None = None
) -> EventIn:
    """The CEF message starting at ``start`` of ``text`` (the whole line is kept as message)."""
    cef = text[start:]
    if not cef.startswith("CEF:"):
        raise ParseError("unrecognized", "no 'CEF:' at the start of the message")
    parts, pos = _split_header(cef)
    if len(parts) < 7:
        raise ParseError("malformed", f"CEF header has {len(parts)} of its 7 '|' fields")
    record: dict[str, Any] = {"message": text}
    if extra:
        record.update(extra)
    version = parts[0][4:]
    record["cef_version"] = int(version) if version.isdigit() else version
    record.update(zip(_HEADER_NAMES[1:], parts[1:7], strict=True))
    ext = _extension(cef[pos:])
    record.update(ext)
    for key, alias in _ALIASES.items():
        if key in ext and alias not in record:
            value = ext[key]
            record[alias] = int(value) if alias.endswith("_port") and value.isdigit() else value
    logsource = None
    if record["device_vendor"].lower() == "fortinet" and "fortigate" in record[
        "device_product"
    ].lower().replace("-", ""):
        for key, value in ext.items():
            if key.startswith(_FORTINET_PREFIX):
                record.setdefault(key[len(_FORTINET_PREFIX) :], value)
        logtype = record.get("type") or ext.get("cat", "").partition(":")[0]
        logsource = LogSource(product="fortigate", service=logtype or None)
    host = ext.get("dvchost") or ext.get("deviceHostName") or (extra or {}).get("hostname")
    return event(
        record,
        time=_time(ext),
        defaults=defaults,
        logsource=logsource or defaults.logsource or LOGSOURCE_FIREWALL,
        host=host,
    )


def _time(ext: dict[str, str]) -> datetime | None:
    """``rt`` (or ``end``/``start``) as epoch milliseconds; other spellings are left to ingest."""
    for key in ("rt", "end", "start"):
        value = ext.get(key, "")
        if value.isdigit() and 9 <= len(value) <= 13:
            millis = int(value) if len(value) > 10 else int(value) * 1000
            return datetime.fromtimestamp(millis / 1000, UTC)
    return None


def _split_header(cef: str) -> tuple[list[str], int]:
    """The first seven ``|``-separated fields (unescaped) and where the extension starts."""
    parts: list[str] = []
    pos = 0
    for m in _HEADER_SPLIT.finditer(cef):
        end = m.end() - 1
        parts.append(_HEADER_UNESCAPE.sub(r"\1", cef[pos:end]))
        pos = m.end()
        if len(parts) == 7:
            return parts, pos
    return parts, pos


def _extension(text: str) -> dict[str, str]:
    keys = list(_EXT_KEY.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(text)
        value = text[m.end() : end].rstrip(" ") if i + 1 < len(keys) else text[m.end() : end]
        out[m.group(1)] = _EXT_UNESCAPE.sub(lambda e: _EXT_ESCAPES[e.group(1)], value)
    return out

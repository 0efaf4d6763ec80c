"""Fortinet FortiGate logs in their native ``key=value`` form (often behind a syslog header).

    parse_fortigate('date=2019-05-10 time=11:37:47 logid="0100032102" type="event" '
                    'subtype="system" devname="FGT-HUE" action="Add" cfgpath="user.local" ...',
                    defaults=d)
        -> EventIn(host="FGT-HUE", logsource=fortigate/event,
                   record={"message": <the line>, "logid": "0100032102", "type": "event", ...})

Every pair is a field under FortiGate's own name, quotes removed, which is
what SigmaHQ's ``product: fortigate`` rules match (``action``, ``cfgpath``...).
The service is the log ``type`` (event, traffic, utm). Time: ``eventtime``
(seconds, micro- or nanoseconds since the epoch) when present, else ``date``
and ``time`` in the ``tz`` field's offset, else in ``Defaults.tz``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults, event
from soc.models import EventIn, LogSource

_PAIR = re.compile(r'([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_START = re.compile(r"(?:date|logver|eventtime|devname|logid)=\S")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def find_fortigate(text: str) -> int:
    """Where FortiGate pairs start in a line (bare or after a syslog header), or -1."""
    m = _START.search(text)
    if m is None or "logid=" not in text or "type=" not in text:
        return -1
    return m.start()


def parse_fortigate(
    text: str, *, defaults: Defaults, start: int = 0, extra: dict[str, Any] | None = None
) -> EventIn:
    """FortiGate pairs from ``start`` on; the whole line is kept as message."""
    pairs = _PAIR.findall(text, start)
    if not pairs:
        raise ParseError("unrecognized", "no FortiGate key=value pairs")
    record: dict[str, Any] = {"message": text}
    if extra:
        record.update(extra)
    for key, raw in pairs:
        if raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                raise ParseError("malformed", f"unterminated quote in {key}=")
            raw = raw[1:-1]
        record[key] = raw
    if "logid" not in record or "type" not in record:
        raise ParseError("malformed", "FortiGate log without logid or type")
    logsource = LogSource(product="fortigate", service=str(record["type"]) or None)
    return event(
        record,
        defaults=defaults,
        logsource=logsource,
        time=_time(record, defaults),
        host=record.get("devname") or (extra or {}).get("hostname"),
    )


def _time(record: dict[str, Any], defaults: Defaults) -> datetime | None:
    eventtime = record.get("eventtime", "")
    if isinstance(eventtime, str) and eventtime.isdigit():
        value = int(eventtime)
        for scale in (1, 1_000, 1_000_000, 1_000_000_000):
            if value / scale < 1e11:
                return datetime.fromtimestamp(value / scale, UTC)
    try:
        local = datetime.fromisoformat(f"{record['date']}T{record['time']}")
    except (KeyError, TypeError, ValueError):
        return None
    tz: tzinfo = defaults.tz
    m = _OFFSET.fullmatch(str(record.get("tz", "")))
    if m is not None:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        tz = timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))
    return local.replace(tzinfo=tz)

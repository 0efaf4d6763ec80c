"""Split an NDJSON body into events and dead letters, one line at a time.

A bad line never costs the good lines around it: each line is judged alone,
and a refused line becomes a :class:`DeadLetter` carrying its line number,
the reason and the input itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from pydantic import ValidationError

from soc import fastjson
from soc.errors import InputError
from soc.ingest.normalize import normalize
from soc.models import DeadLetter, DeadLetterReason, Event, EventIn, LineError, Origin

_ENVELOPE_KEYS = frozenset(EventIn.model_fields)


@dataclass
class Parsed:
    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    @property
    def errors(self) -> list[LineError]:
        return [LineError(line=d.line or 0, reason=d.reason, detail=d.detail) for d in self.dead]


def iter_lines(body: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every non-blank line; CRLF accepted."""
    for number, line in enumerate(body.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line.strip():
            yield number, line


def parse_ndjson(
    body: bytes,
    *,
    tenant: str,
    source: str,
    received: datetime,
    max_line_bytes: int,
) -> Parsed:
    out = Parsed()
    for number, line in iter_lines(body):
        try:
            out.events.append(
                _parse_line(
                    line,
                    tenant=tenant,
                    source=source,
                    received=received,
                    max_line_bytes=max_line_bytes,
                )
            )
        except InputError as r:
            out.dead.append(
                DeadLetter.of(
                    line,
                    tenant=tenant,
                    source=source,
                    received=received,
                    stage="ingest",
                    reason=cast(DeadLetterReason, r.reason),
                    detail=r.detail,
                    line=number,
                    origin=stated_origin(line) if r.reason == "invalid" else None,
                )
            )
    return out


def _parse_line(
    line: bytes, *, tenant: str, source: str, received: datetime, max_line_bytes: int
) -> Event:
    if len(line) > max_line_bytes:
        raise InputError("too_large", f"line is {len(line)} bytes; the limit is {max_line_bytes}")
    try:
        obj = fastjson.loads(line)
    except UnicodeDecodeError as e:
        raise InputError("not_json", f"not UTF-8 text: {e.reason} at byte {e.start}") from e
    except fastjson.JSONDecodeError as e:
        if "UTF-8" in e.msg:
            raise InputError("not_json", f"not UTF-8 text: {e.msg}") from e
        raise InputError("not_json", f"not valid JSON: {e.msg} at column {e.colno}") from e
    if not isinstance(obj, dict):
        raise InputError("not_object", f"a line must be a JSON object, not {_json_type(obj)}")
    try:
        return object_event(obj, tenant=tenant, source=source, received=received)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "line"
        raise InputError("invalid", f"{where}: {first['msg']}") from e


def stated_origin(line: bytes) -> Origin | None:
    """The valid ``origin`` an envelope line states, however wrong the rest of it."""
    try:
        obj = fastjson.loads(line)
    except (UnicodeDecodeError, fastjson.JSONDecodeError):
        return None
    if not (isinstance(obj, dict) and isinstance(obj.get("record"), dict)):
        return None
    try:
        return Origin.model_validate(obj.get("origin"))
    except ValidationError:
        return None


def object_event(
    obj: dict[str, Any],
    *,
    tenant: str,
    source: str,
    received: datetime,
    identify: bool = True,
    flat: bool = False,
) -> Event:
    """The event of one JSON object, a bare record or an envelope; what the envelope
    states wins. Raises ValidationError (a bad envelope) or NormalizeError.
    ``identify=False``: the id is left for soc.ingest.normalize.identified to set;
    ``flat``: the object's values are all plain (soc.ingest.readers.ReadItem.flat)."""
    if obj and "record" not in obj:  # a bare record, as files hold them: no envelope to read
        return normalize(
            obj, tenant=tenant, source=source, received=received, identify=identify, flat=flat
        )
    envelope = as_event_in(obj)
    return normalize(
        envelope.record,
        tenant=tenant,
        source=envelope.source or source,
        received=received,
        host=envelope.host,
        time=envelope.time,
        logsource=envelope.logsource,
        origin=envelope.origin,
        identify=identify,
    )


def as_event_in(obj: dict[str, Any]) -> EventIn:
    """An object with a ``record`` object and only envelope keys is an envelope."""
    if isinstance(obj.get("record"), dict) and obj.keys() <= _ENVELOPE_KEYS:
        return EventIn.model_validate(obj)
    return EventIn(record=obj)


def _json_type(v: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number"
    )

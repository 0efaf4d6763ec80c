"""Turn one received record into the event model.

The record is kept untouched in ``Event.raw``; ``Event.fields`` is what rules
match on: for a Windows record in evtx_dump or Winlogbeat shape, its fields
under Sigma's names (soc.ingest.windows); for any other record, the record
flattened to dotted names (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``). The
record's own time, host and Sigma logsource are found in well-known fields
unless the sender states them (a Zeek record, known by its ``_path``, by its
``ts``: soc.ingest.zeek).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml

from soc.errors import InputError
from soc.ingest.windows import sigma_fields
from soc.ingest.zeek import ZeekError, stated_time, zeek_logsource
from soc.models import Event, LogSource, Origin

TIME_FIELDS = (
    "@timestamp",
    "TimeCreated",
    "timestamp",
    "time",
    "EventTime",
    "Event.System.TimeCreated.#attributes.SystemTime",
    "Event.System.TimeCreated.SystemTime",
)
HOST_FIELDS = ("Hostname", "Computer", "host.name", "hostname", "host", "Event.System.Computer")
CLOUDTRAIL = LogSource(product="aws", service="cloudtrail")
CLOUDTRAIL_FIELDS = ("eventSource", "eventName", "eventVersion")
"""A record with all three is a CloudTrail record (as connectors/parse/cloudtrail.py sends it)."""
CHANNEL_FIELDS = ("Channel", "Event.System.Channel", "winlog.channel")
EVENT_ID_FIELDS = ("EventID", "Event.System.EventID", "winlog.event_id")
"""(The first names are also read directly in infer_logsource, ahead of the lists.)"""


class NormalizeError(InputError):
    """A record lacks, or has a broken form of, what the event model needs."""

    def __init__(self, detail: str) -> None:
        super().__init__("invalid", detail)


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Nested objects to dotted names; lists and scalars are kept as they are."""
    if dict not in map(type, record.values()):  # one C loop
        return dict(record)  # already flat, as most collected records are
    out: dict[str, Any] = {}
    stack: list[tuple[str, dict[str, Any]]] = [("", record)]
    while stack:
        prefix, obj = stack.pop()
        for k, v in obj.items():
            name = f"{prefix}{k}"
            if isinstance(v, dict):
                stack.append((f"{name}.", v))
            else:
                out[name] = v
    return out


_NO_OFFSET = timedelta(0)


def parse_time(value: Any, *, name: str) -> datetime:
    """ISO 8601 text (``Z`` allowed) or a Unix time in seconds or milliseconds."""
    if type(value) is str:  # the common case first: what fromisoformat takes as it is
        try:
            t = datetime.fromisoformat(value)  # takes "Z" (Python 3.11); no spaces
        except ValueError:
            pass
        else:
            if t.tzinfo is UTC:
                return t
            if t.tzinfo is not None and t.utcoffset() == _NO_OFFSET:
                return t.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise NormalizeError(f"time field {name!r} is a boolean")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as e:
            raise NormalizeError(f"time field {name!r} is out of range: {value}") from e
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            t = datetime.fromisoformat(text)
        except ValueError as e:
            raise NormalizeError(
                f"time field {name!r} is not an ISO 8601 time: {value[:64]!r}"
            ) from e
        try:
            return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        except OverflowError as e:  # 9999-12-31T23:59:59-23:59 (found by tests/fuzz)
            raise NormalizeError(f"time field {name!r} is out of range: {value[:64]!r}") from e
    raise NormalizeError(f"time field {name!r} has type {type(value).__name__}")


CategoryRule = str | dict[str, Any]
"""A category, or ``{field, values: {value: category}, default}`` when a field decides."""


@cache
def _windows_map() -> tuple[str, dict[str, str], dict[str, dict[int, CategoryRule]]]:
    text = resources.files("soc.ingest").joinpath("windows_logsources.yml").read_text("utf-8")
    data = yaml.safe_load(text)
    channels = {k.lower(): v for k, v in data["channels"].items()}
    categories = {
        svc: {int(k): v for k, v in ids.items()} for svc, ids in data["categories"].items()
    }
    return data["product"], channels, categories


def _category(rule: CategoryRule | None, fields: dict[str, Any]) -> str | None:
    if rule is None or isinstance(rule, str):
        return rule
    found = fields.get(rule["field"])
    category = rule["values"].get(found) if isinstance(found, str) else None
    return str(category or rule["default"])


def known_logsources() -> list[LogSource]:
    """Every logsource :func:`infer_logsource` can give, e.g. to prepare an engine's routes."""
    product, channels, categories = _windows_map()
    found = {LogSource(product=product, service=svc) for svc in channels.values()}
    for service, ids in categories.items():
        for rule in ids.values():
            names = [rule] if isinstance(rule, str) else [*rule["values"].values(), rule["default"]]
            found |= {LogSource(product=product, service=service, category=c) for c in names}
    return sorted(found, key=lambda ls: (ls.service or "", ls.category or ""))


def infer_logsource(fields: dict[str, Any]) -> LogSource:
    """Sigma's logsource from a Windows channel and event id, a Zeek record's ``_path``
    (soc.ingest.zeek) or CloudTrail's own fields; empty when unknown.

    So that records posted or hunted as plain JSON, without the connector's logsource,
    still reach the rules written for them."""
    channel = fields.get("Channel")  # first_field's answer when set: the commonest name
    if channel is None:
        channel = first_field(fields, CHANNEL_FIELDS)
    if not isinstance(channel, str):
        if all(name in fields for name in CLOUDTRAIL_FIELDS):
            return CLOUDTRAIL
        return zeek_logsource(fields) or LogSource()
    event_id = fields.get("EventID")
    if event_id is None:
        event_id = first_field(fields, EVENT_ID_FIELDS)
    key = (channel, event_id) if type(event_id) is int or type(event_id) is str else None
    if key is not None and (known := _INFERRED.get(key)) is not None:
        return known
    product, channels, categories = _windows_map()
    service = channels.get(channel.lower())
    rule: CategoryRule | None = None
    category = None
    if service is not None:
        try:
            rule = categories.get(service, {}).get(int(event_id))
            category = _category(rule, fields)
        except (TypeError, ValueError):
            category = None
    found = _logsource(product, service, category)
    if key is not None and not isinstance(rule, dict) and len(_INFERRED) < _MAX_INFERRED:
        _INFERRED[key] = found  # decided by channel and event id alone
    return found


_INFERRED: dict[tuple[str, int | str], LogSource] = {}
"""Logsources inferred by (channel, event id) as the record spells them, where no other
field takes part (a category the map decides by another field is inferred every time)."""
_MAX_INFERRED = 4096
"""(channel, event id) pairs kept; both come from input, so their number is bounded."""


_LOGSOURCES: dict[tuple[str | None, str | None, str | None], LogSource] = {}
"""The Windows logsources inferred so far (a few dozen: the map's), built once each."""


def _logsource(product: str | None, service: str | None, category: str | None) -> LogSource:
    """``LogSource(...)`` of these parts; the model is frozen, so one instance serves all."""
    key = (product, service, category)
    found = _LOGSOURCES.get(key)
    if found is None:
        found = _LOGSOURCES[key] = LogSource(product=product, service=service, category=category)
    return found


def normalize(
    record: dict[str, Any],
    *,
    tenant: str,
    source: str,
    received: datetime,
    host: str | None = None,
    time: datetime | None = None,
    logsource: LogSource | None = None,
    origin: Origin | None = None,
    identify: bool = True,
    flat: bool = False,
) -> Event:
    """Build the event; what the sender states wins over what is found in the record.

    ``identify=False`` leaves the id empty, for a caller that needs it only for the few
    events a rule matches (a hunt over files): :func:`identified` sets it then, to what
    it would have been. ``flat``: the caller found every value of the record a string,
    integer, boolean or null (soc.ingest.readers.ReadItem.flat), so it is neither a nested
    Windows shape nor in need of flattening."""
    fields = None if flat else sigma_fields(record)
    if fields is None:
        fields = dict(record) if flat else flatten(record)
    if time is None:
        time = _stated_time(fields) or received
    if host is None:
        found = fields.get("Hostname")  # HOST_FIELDS[0], read ahead of the list
        if found is None:
            found = first_field(fields, HOST_FIELDS)
        host = found if isinstance(found, str) and found else None
    # Every part was built or checked above, so the model's validation is skipped: this
    # runs once per event, on the pipeline's hot path.
    return _constructed(
        {
            "id": Event.make_id(tenant=tenant, source=source, raw=record, origin=origin)
            if identify
            else "",
            "tenant": tenant,
            "source": source,
            "host": host,
            "time": time,
            "received": received,
            "logsource": logsource or infer_logsource(fields),
            "raw": record,
            "fields": fields,
            "origin": origin,
        }
    )


_EVENT_FIELDS = tuple(Event.model_fields)
_set_attribute = object.__setattr__


def _constructed(values: dict[str, Any]) -> Event:
    """``Event.model_construct(**values)`` for a value of every field (in their order), as
    pydantic builds it (``__dict__``, fields set, no extra, no private), without its
    generic per-field loop, which cost as much as the rest of normalizing."""
    event = Event.__new__(Event)
    _set_attribute(event, "__dict__", values)
    _set_attribute(event, "__pydantic_fields_set__", set(_EVENT_FIELDS))
    _set_attribute(event, "__pydantic_extra__", None)
    _set_attribute(event, "__pydantic_private__", None)
    return event


def identified(event: Event) -> Event:
    """The event, its id set if :func:`normalize` left it empty (``identify=False``)."""
    if not event.id:
        _set_attribute(
            event,
            "id",
            Event.make_id(
                tenant=event.tenant, source=event.source, raw=event.raw, origin=event.origin
            ),
        )
    return event


def recorded_time(record: dict[str, Any]) -> datetime | None:
    """The time a record states of itself (the first of ``TIME_FIELDS``), or None.

    Replays re-time events by it (drills, the sample of ``soc run``) and keep it
    in the raw record. Raises NormalizeError when the stated time is broken.
    """
    fields = sigma_fields(record)
    return _stated_time(fields if fields is not None else flatten(record))


def _stated_time(fields: dict[str, Any]) -> datetime | None:
    when = fields.get("eventTime")  # CloudTrail's (only in a CloudTrail record); first, as
    if when and all(name in fields for name in CLOUDTRAIL_FIELDS):  # @timestamp may be later
        return parse_time(when, name="eventTime")
    for name in TIME_FIELDS:
        value = fields.get(name)
        if value is not None and value != "":
            return parse_time(value, name=name)
    if "_path" in fields:  # a Zeek record's time is its ts (only Zeek's: ts is a common name)
        try:
            return stated_time(fields)
        except ZeekError as e:
            raise NormalizeError(str(e)) from None
    return None


def first_field(fields: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The value of the first of ``names`` that ``fields`` has (not None), or None."""
    for n in names:
        v = fields.get(n)
        if v is not None:
            return v
    return None

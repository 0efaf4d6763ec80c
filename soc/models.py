"""The records that cross the pipeline's seams.

    EventIn  --normalize-->  Event  --detect-->  Alert
        \\--(refused)------> DeadLetter

Every time is timezone-aware UTC. Ids are deterministic, so that a record
replayed, or an event detected twice after a restart, yields the same id and
every store write is idempotent.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from soc import fastjson


def _as_utc(v: datetime) -> datetime:
    if v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    try:
        return v.astimezone(UTC)
    except OverflowError as e:  # 0001-01-01T00:00+00:01 is before year 1 in UTC
        raise ValueError("the time is out of range once converted to UTC") from e


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def digest(*parts: str | bytes) -> str:
    """A 32-hex-digit id from its parts (text, or its UTF-8 bytes); joined unambiguously."""
    h = hashlib.sha256()
    for p in parts:
        b = p if isinstance(p, bytes) else p.encode()
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return h.hexdigest()[:32]


@lru_cache(maxsize=1024)
def _prefix(*parts: str) -> hashlib._Hash:
    """The hash of :func:`digest` having taken in these first parts (copy it before use):
    an event's tenant and source are the same for many events."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode()
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
    return h


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, UTF-8 kept."""
    return fastjson.canonical(value)


class LogSource(BaseModel):
    """Sigma's logsource triple: which rules may run on an event."""

    model_config = ConfigDict(frozen=True)

    product: str | None = None
    category: str | None = None
    service: str | None = None


class Origin(BaseModel):
    """Where a connector read a record: which agent, which source, and its place there.

    ``stream`` is one ordered feed inside a source (a file, a syslog peer, an S3
    object); ``seq`` numbers the records of a stream from 0 and ``part`` the events
    one record gave (a CloudTrail file holds many). The SOC counts what a
    connector sent against what arrived by these. ``drill`` tags a replay.
    With an origin, the event id is derived from it, so the same record resent
    after an outage or a crash keeps its id, and two equal lines do not collapse.
    """

    model_config = ConfigDict(extra="forbid")

    connector: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    stream: str = Field(min_length=1, max_length=1000)
    seq: int = Field(ge=0)
    part: int = Field(0, ge=0)
    drill: str | None = Field(None, max_length=200)


class StreamBeat(BaseModel):
    """One stream in a connector's heartbeat: how far delivery got and what waits."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200)
    stream: str = Field(min_length=1, max_length=1000)
    seq: int | None = Field(None, ge=0)
    """Highest record seq the destination acknowledged (None: none yet)."""
    sent: int | None = Field(None, ge=0)
    """Highest record seq handed to the destination, acknowledged or not (None: none yet
    since the agent started)."""
    backlog: int = Field(0, ge=0)
    """Records in the agent's spool not yet acknowledged."""
    oldest_s: float = Field(0.0, ge=0)
    """Age of the oldest of them, in seconds (0 when none)."""
    failures: int = Field(0, ge=0)
    """Sends holding this stream's records that the destination did not acknowledge."""


class Heartbeat(BaseModel):
    """What a connector reports every ``heartbeat_s``; the tenant is the credential's."""

    model_config = ConfigDict(extra="forbid")

    connector: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100)
    host: str = Field(min_length=1, max_length=255)
    interval_s: float = Field(gt=0, le=86_400)
    """The agent's heartbeat interval: the SOC judges lateness by it."""
    streams: list[StreamBeat] = Field(default_factory=list, max_length=1000)


HEARTBEAT_HEADER = "soc-kind"
"""On Kafka, a connector's heartbeat travels on its own ingest topic, beside its events,
marked by this record header (value :data:`HEARTBEAT_KIND`); see :class:`FiledHeartbeat`."""
HEARTBEAT_KIND = b"heartbeat"


def is_heartbeat(headers: Any) -> bool:
    """Whether a Kafka record's headers (``(name, bytes)`` pairs) mark a heartbeat: what
    any reader of an ingest topic must skip, or take, besides the event lines."""
    return any(k == HEARTBEAT_HEADER and v == HEARTBEAT_KIND for k, v in headers or ())


class FiledHeartbeat(BaseModel):
    """A heartbeat as the SOC received it, with the tenant its path vouches for.

    On Kafka a connector writes its heartbeat to its tenant's ingest topic
    (``<prefix>.ingest.<tenant>``), the same topic as its events, marked by the
    :data:`HEARTBEAT_HEADER` record header rather than sent to a topic of its own: the
    brokers' ACLs let only that tenant's principal write that topic, so its name is the
    one tenant the SOC may trust, for heartbeats as for events (a shared heartbeats topic
    would have to believe a tenant the message claims), and a heartbeat that arrives
    proves the very path the events take works. The ingest bridge checks it and puts it
    on the bus's ``heartbeats`` topic as this envelope, with the topic's tenant; the
    heartbeat sink (soc.stages.heartbeats) files it in the sources book.
    """

    model_config = ConfigDict(extra="forbid")

    tenant: str
    received: UtcDatetime
    heartbeat: Heartbeat

    @property
    def bus_key(self) -> str:
        """One connector's heartbeats keep their order: one partition."""
        return f"{self.tenant}/{self.heartbeat.connector}"


class EventIn(BaseModel):
    """One line as a sender may post it: a record, and what the sender knows of it.

    A line that is a bare JSON object is taken as ``{"record": <the object>}``.
    The tenant never comes from here: it is the credential's.
    """

    model_config = ConfigDict(extra="forbid")

    record: dict[str, Any] = Field(min_length=1)
    source: str | None = Field(None, max_length=200)
    host: str | None = Field(None, max_length=255)
    time: UtcDatetime | None = None
    logsource: LogSource | None = None
    origin: Origin | None = None


class Event(BaseModel):
    """One normalized event, as it travels on the bus and rests in the store."""

    id: str
    tenant: str
    source: str
    host: str | None = None
    time: UtcDatetime
    """The record's own time (falls back to ``received`` when it has none)."""
    received: UtcDatetime
    logsource: LogSource
    raw: dict[str, Any]
    """The original record, untouched."""
    fields: dict[str, Any]
    """The record flattened to dotted names, which rules match on."""
    origin: Origin | None = None
    """The connector's stamp, when a connector sent the record."""

    @staticmethod
    def make_id(
        *, tenant: str, source: str, raw: dict[str, Any], origin: Origin | None = None
    ) -> str:
        if origin is not None:
            o = origin
            return digest(
                tenant,
                "origin",
                o.connector,
                o.source,
                o.stream,
                str(o.seq),
                str(o.part),
                o.drill or "",
            )
        h = _prefix(tenant, source).copy()  # digest(tenant, source, canonical JSON of raw)
        b = fastjson.canonical_bytes(raw)
        h.update(len(b).to_bytes(8, "big"))
        h.update(b)
        return h.hexdigest()[:32]

    @property
    def bus_key(self) -> str:
        return f"{self.tenant}/{self.host or '-'}"


class Severity(StrEnum):
    informational = "informational"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class AlertStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    closed = "closed"


AlertOrigin = Literal["stream", "retro-hunt"]

Drills = Literal["include", "exclude", "only"]
"""Which alerts or incidents a read takes by drill: all, only live ones, only drills'."""
DRILLS_HELP = "Drills' work too (include), live work only (exclude), or drills' only (only)"


def drill_of(origin: Origin | None) -> str | None:
    """The drill a record was replayed for (an empty id is none)."""
    return origin.drill or None if origin is not None else None


CorrelationKind = Literal[
    "event_count",
    "value_count",
    "temporal",
    "temporal_ordered",
    "value_sum",
    "value_avg",
    "value_percentile",
    "value_median",
]


class CorrelationInfo(BaseModel):
    """What made a Sigma correlation rule fire: set on the alerts correlations raise.

    The alert's ``rule_id`` is the correlation's id, its ``time`` the window's end and its
    ``event_id`` the event of the match that met the condition; this holds the rest: the
    group, the figure that met the condition, the window, and every base alert and event
    counted in it (the incident view's timeline). See docs/adr/0013-correlations.md.
    """

    type: CorrelationKind
    group: dict[str, str] = Field(default_factory=dict)
    """The group-by names (or aliases) and their values, e.g. ``{"src_ip": "203.0.113.9"}``."""
    value: float
    """The count, sum, average or percentile that met the condition."""
    condition: str | None = None
    """The condition it met: ``gte 10``, or with the field it reads, ``user gte 5``."""
    window_start: UtcDatetime
    window_end: UtcDatetime
    rule_ids: list[str] = Field(default_factory=list)
    """The referenced rules (or correlations) whose matches were counted."""
    alert_ids: list[str] = Field(default_factory=list)
    """The alerts of the matches counted (base rules' ids, also when they raise none)."""
    event_ids: list[str] = Field(default_factory=list)
    """The events counted, in time order."""


class IndicatorMatchInfo(BaseModel):
    """What made an "indicator match" alert: the indicator (soc.intel) and what matched it.

    The alert's ``rule_id`` is ``soc-indicator-match``; see docs/adr/0020-indicator-matching.md.
    """

    indicator_id: str
    type: Literal["ip", "cidr", "domain", "url", "hash"]
    value: str
    """The indicator's value (an address, a network, a domain, a URL or a hash)."""
    source: str
    """Where the indicator came from: a feed's name, ``file:<name>``, ``paste:<user>``."""
    tlp: str
    confidence: int | None = None
    stix_id: str | None = None
    field: str
    """The event field the matching value was found in (``src_ip``, ``Hashes``...)."""
    observed: str
    """The value found there, canonical (a subdomain of a domain indicator, an address
    inside a network indicator...)."""


class Alert(BaseModel):
    """A rule matched an event."""

    id: str
    tenant: str
    rule_id: str
    rule_title: str
    rule_version: str | None = None
    """The rule's ``modified`` (or ``date``) as given in the rule."""
    rule_revision: int | None = None
    """The version (1, 2, ...) of the rule's record in the store (soc.detect.catalog) that
    raised it; ``None`` for rules not managed there (`soc hunt` over files)."""
    rule_author: str | None = None
    """The rule's author, kept as the Detection Rule License asks."""
    severity: Severity
    tags: list[str] = Field(default_factory=list)
    """ATT&CK and other tags of the rule, e.g. ``attack.t1003.001``."""
    status: AlertStatus = AlertStatus.open
    event_id: str
    time: UtcDatetime
    """The event's own time."""
    created: UtcDatetime
    host: str | None = None
    source: str
    logsource: LogSource
    incident_id: str | None = None
    """The incident it was grouped into; ``None`` until grouped, or when suppressed."""
    suppressed_by: str | None = None
    """The suppression that silenced it, if one did."""
    origin: AlertOrigin = "stream"
    """Who raised it: the streaming detector, or a retro-hunt over stored events."""
    hunt_id: str | None = None
    """The retro-hunt that raised it (``origin == "retro-hunt"``); its id is unchanged."""
    correlation: CorrelationInfo | None = None
    """Set when a Sigma correlation rule raised it (many events), not a rule on one event."""
    drill: str | None = None
    """The drill whose replayed events raised it: the event's ``origin.drill``; ``None``
    for live alerts. Drill alerts only fold into incidents of the same drill."""
    indicator: IndicatorMatchInfo | None = None
    """Set when a threat-intelligence indicator matched the event, not a rule."""
    note: str | None = None
    """Set when the SOC itself closed it, saying why: e.g. a silent source's alert
    resolved when its events resumed ("silent for 2 h 14 min")."""

    @staticmethod
    def make_id(*, rule_id: str, event_id: str) -> str:
        return digest(rule_id, event_id)

    @property
    def bus_key(self) -> str:
        return f"{self.tenant}/{self.host or '-'}"


class AlertRead(Alert):
    """An alert with the event that raised it."""

    event: Event | None = None


DeadLetterReason = Literal[
    "not_json",
    "not_object",
    "too_large",
    "invalid",
    "undecodable",
    "detect_failed",
    "store_refused",
]


PAYLOAD_HEAD = 65_536
"""Bytes of a refused input kept in its dead letter (all of them are counted and hashed)."""


class DeadLetter(BaseModel):
    """Input that could not be processed, kept with why, so nothing is lost."""

    id: str
    tenant: str
    stage: Literal["ingest", "detect", "events"]
    reason: DeadLetterReason
    detail: str
    source: str
    line: int | None = None
    """1-based line number in the request body, for ingest."""
    received: UtcDatetime
    payload: str
    """The input as received (decoded leniently), or its head when too large."""
    size: int
    """The input's full size in bytes."""
    sha256: str
    """SHA-256 of the full input, so a truncated payload can still be matched."""
    origin: Origin | None = None
    """Where the connector read it, when the refused line stated a valid ``origin``: the
    loss ledger counts it as arrived (it is here, not lost)."""

    @property
    def bus_key(self) -> str:
        return f"{self.tenant}/{self.source}"

    @classmethod
    def of(
        cls,
        payload: bytes,
        *,
        tenant: str,
        source: str,
        received: datetime,
        stage: Literal["ingest", "detect", "events"],
        reason: DeadLetterReason,
        detail: str,
        line: int | None = None,
        origin: Origin | None = None,
    ) -> DeadLetter:
        """The dead letter of ``payload``: its head (``PAYLOAD_HEAD`` bytes), size and SHA-256."""
        sha = hashlib.sha256(payload).hexdigest()
        return cls.model_validate(
            {
                "id": digest(tenant, source, stage, sha, received.isoformat(), str(line)),
                "tenant": tenant,
                "stage": stage,
                "reason": reason,
                "detail": detail,
                "source": source,
                "line": line,
                "received": received,
                "payload": payload[:PAYLOAD_HEAD].decode("utf-8", errors="replace"),
                "size": len(payload),
                "sha256": sha,
                "origin": origin,
            }
        )


class LineError(BaseModel):
    line: int
    reason: DeadLetterReason
    detail: str


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    errors: list[LineError]
    """The first rejected lines (up to a limit); all of them are dead-lettered."""
    errors_truncated: bool = False


class AlertQuery(BaseModel):
    """A filtered, paginated read of alerts; ``tenants`` is set by the server."""

    tenants: list[str] | None = None
    """``None`` means every tenant (only for callers allowed all)."""
    severity: list[Severity] = Field(default_factory=list)
    rule_id: list[str] = Field(default_factory=list)
    status: list[AlertStatus] = Field(default_factory=list)
    host: str | None = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    text: str | None = Field(None, max_length=500)
    """Full-text search over title, host, rule id and tags; plain words, no syntax."""
    drill: str | None = Field(None, max_length=200)
    """Only this drill's alerts."""
    drills: Drills = "include"
    """Live and drill alerts (``include``), live ones only (``exclude``), drills' only."""
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next (older) page; absent on the last page."""


class Health(BaseModel):
    status: Literal["ok", "degraded", "fail"]
    """``fail`` (503): this process's bus, store or a stage of its own failed its check.
    ``degraded`` (200): this process is fine, but a worker process elsewhere (a `soc
    detect`, a `soc correlate`) has gone silent; its check names it."""
    checks: dict[str, str] = Field(default_factory=dict)

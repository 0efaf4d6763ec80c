"""What the loss ledger answers and what it persists: typed, for the API and the store."""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from soc.models import UtcDatetime

Seen = Literal["new", "duplicate", "ignored"]
"""What observing one event did: a new (seq, part), one seen before, or not counted
(no origin, or a drill's)."""


class StreamKey(NamedTuple):
    """One connector's ordered feed, as the ledger counts it."""

    tenant: str
    connector: str
    source: str
    stream: str


class Gap(BaseModel):
    """Records ``from_seq..to_seq`` of a stream that the connector sent and never arrived."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_seq: int = Field(ge=0)
    to_seq: int = Field(ge=0)
    count: int = Field(ge=1)
    first_seen: UtcDatetime
    """When the ledger first knew these records were missing (see soc.sources.ledger)."""


class StreamReconciliation(BaseModel):
    """One stream at one reconciliation."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    connector: str
    source: str
    stream: str
    records: int = Field(ge=0)
    """Distinct sequence numbers arrived (a record counts once any of its events arrived)."""
    events: int = Field(ge=0)
    """Distinct (seq, part) arrived."""
    duplicates: int = Field(ge=0)
    """Events seen again (at-least-once delivery): never loss."""
    highest_arrived: int | None
    reported_highest: int | None
    """The connector's own word: the highest seq it sent, at ``reported_at``."""
    reported_at: UtcDatetime | None
    gaps: list[Gap]
    """Confirmed gaps (older than the grace period), in seq order, at most the ledger's
    ``max_gaps`` of them; ``gaps_total`` counts all."""
    gaps_total: int = Field(ge=0)
    lost: int = Field(ge=0)
    """Records in confirmed gaps, all of them (listed or not)."""
    pending: int = Field(ge=0)
    """Records known missing but still within the grace period: late, perhaps not lost."""

    @property
    def key(self) -> StreamKey:
        return StreamKey(self.tenant, self.connector, self.source, self.stream)


class TenantLoss(BaseModel):
    """A tenant's totals at one reconciliation: what the metrics carry (label: tenant)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    streams: int = Field(ge=0)
    streams_losing: int = Field(ge=0)
    lost: int = Field(ge=0)
    pending: int = Field(ge=0)
    duplicates: int = Field(ge=0)


class Reconciliation(BaseModel):
    """Every stream's account at ``at``, gaps older than ``grace_s`` counted as lost."""

    model_config = ConfigDict(extra="forbid")

    at: UtcDatetime
    grace_s: float = Field(ge=0)
    streams: list[StreamReconciliation]
    tenants: list[TenantLoss]

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.streams)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.streams)

    @property
    def losing(self) -> list[StreamReconciliation]:
        """The streams with confirmed loss: what an alert is raised for."""
        return [s for s in self.streams if s.lost]


Pairs = list[tuple[int, int]]


class StreamState(BaseModel):
    """One stream's counts as persisted: interval sets as (from, to) pairs."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    connector: str
    source: str
    stream: str
    arrived: Pairs
    events: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    reported: int = Field(ge=-1)
    reported_at: UtcDatetime | None = None
    parts: dict[int, Pairs] = {}
    """Parts seen, for the recent records that gave more than one event."""
    parts_horizon: int = Field(-1, ge=-1)
    settled: int = Field(-1, ge=-1)
    """Every seq up to this one arrived (at this owner or another, as the owners' merged
    account showed): ``arrived`` holds only the seqs above it (soc.sources.ledger)."""
    seen: list[tuple[int, UtcDatetime]] = []
    """(highest seq known to exist, when it was first known): each missing seq's first-seen
    time is that of the first entry at or above it."""


class LedgerSnapshot(BaseModel):
    """The whole ledger, to keep in the store and restore after a restart."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    taken: UtcDatetime | None = None
    streams: list[StreamState]

"""The loss ledger: what each connector stream sent, against what arrived.

    ledger = Ledger()
    ledger.observe_events(stored_batch)                  # counts of new, duplicate, ignored
    ledger.observe_event(event)                          # "new", "duplicate" or "ignored"
    ledger.report(StreamKey("t", "agent-1", "auth", "803:1835"), highest_sent=41_999, at=now)
    result = ledger.reconcile(now, grace=timedelta(minutes=10))
    result.losing                                        # streams with confirmed gaps
    publish(result)                                      # the tenants' gauges
    ledger.snapshot()                                    # -> LedgerSnapshot (JSON), restore()

Cost (bench/ledger.py): 10,000,000 events across 500 streams observed at about
1.2 million events/s in store-sized batches (``observe_events``; one
``observe`` call per event: about 0.9 million/s), a ledger of about 0.5 MiB, one
reconciliation in about 6 ms, a JSON snapshot of about 130 kB.

A connector numbers each stream's records by ``origin.seq`` from 0 and the events
one record gave by ``origin.part`` (a CloudTrail file: one seq, parts 0..n). The
ledger keeps, per stream (tenant, connector, source, stream), the seqs that
arrived as an :class:`IntervalSet` (a stream read in order is one range, however
long), never a row per event. A record counts as arrived when any of its parts
did; loss is counted in records.

What is not counted: an event without an origin (posted by something other than a
connector), and a drill's event (``origin.drill`` set: drills replay recorded logs
on streams of their own and must not pollute a live feed's account). A retro-hunt
creates no events, only alerts over stored ones, so it never reaches the ledger.

Duplicates (at-least-once delivery: a batch resent after a lost acknowledgement)
are a (seq, part) seen again. They are counted per stream, apart, and never as
loss. For single-event records (part 0 only: nearly every line of a log) the
interval set of seqs is enough: a part 0 whose seq is already there is a
duplicate. Parts are kept only for records that used ``part > 0``: a small
interval set of part numbers per such seq, for the ``parts_window`` (1024) most
recently first-seen multi-part seqs of the stream; older ones are forgotten and
the highest forgotten seq becomes the stream's ``parts_horizon``. A record at or
below the horizon that has arrived counts as arrived whole: any part of it seen
again is a duplicate. The agent ships a record's parts together (one spool
entry), so a later part of an old record is a resend; the only miscount possible
is a part arriving for the first time more than 1024 multi-part records late,
counted as a duplicate instead of an event (loss, counted in records, is never
affected). Memory for parts is bounded by the window, whatever the stream.

When a hole becomes loss. The highest seq known to exist in a stream is the
higher of the highest arrived and the connector's last report (:meth:`report`).
Each stream keeps a short timeline of (highest known, first known at): a report
adds an entry at the report's time, a reconciliation one at its own time when
arrivals raised the highest since the last entry. A missing seq was first seen at
the time of the first entry at or above it; it is a gap (lost) once that time is
older than the grace period, and pending before. So a hole inside the arrived
range counts from the first reconciliation after the event that followed it
arrived (at most one reconciliation period late, never early), and a hole at the
end from the report that covered it. Observing takes no time stamp, which keeps
it fast. Entries whose span holds no missing seq any more are dropped at each
reconciliation, so the timeline is as long as the number of open gaps plus one.

A hole filled later (a resend, a late batch) simply disappears from the next
reconciliation: the ledger is a state, not a log; the lost figure of a
reconciliation is the records missing at that moment.

Settling: bounded when a stream is shared. One stream's events often reach several
event sinks (a connector forwarding many hosts' logs: the bus spreads them over
partitions by host), so each sink's own account of it is every other seq, a range per
record, growing without end (measured in the 30-minute soak: 2.7 MB per sink after 18
minutes at 800 events/s, rewritten every 5 s). At each reconciliation the sink reads
every owner's account merged (:meth:`Ledger.settled_prefixes`: per stream, the highest
seq up to which the merged account has no hole) and :meth:`Ledger.settle` s its own up to
it: the ranges below go, one number (``settled``) stands for them. A settled seq seen
again is a duplicate; the merged account counts every settled seq as arrived. Records,
gaps and loss stay exact (a property test checks them against the naive model with
three sinks settling as they go). What settling gives up is only in the counts of events
and duplicates: a seq re-delivered to two owners both of whose ranges were settled before
their accounts met is counted once as an event too many, and a part of a multi-part
record (a CloudTrail file) first arriving after its seq was settled counts as a
duplicate, as one past the parts window already did.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime, timedelta

from soc import metrics as m
from soc.models import Event, Origin
from soc.sources.intervals import IntervalSet
from soc.sources.models import (
    Gap,
    LedgerSnapshot,
    Reconciliation,
    Seen,
    StreamKey,
    StreamReconciliation,
    StreamState,
    TenantLoss,
)

PARTS_WINDOW = 1024
"""Multi-part records per stream whose parts are remembered one by one."""
MAX_GAPS = 100
"""Gaps listed per stream in a reconciliation (all are counted)."""

NEW: Seen = "new"
DUPLICATE: Seen = "duplicate"
IGNORED: Seen = "ignored"


class _Stream:
    __slots__ = (
        "arrived",
        "duplicates",
        "events",
        "horizon",
        "parts",
        "reported",
        "reported_at",
        "seen_at",
        "seen_upto",
        "settled",
    )

    def __init__(self) -> None:
        self.arrived = IntervalSet()
        self.events = 0
        self.duplicates = 0
        self.reported = -1
        self.reported_at: datetime | None = None
        self.parts: dict[int, IntervalSet] = {}
        self.horizon = -1
        self.seen_upto: list[int] = []
        self.seen_at: list[datetime] = []
        self.settled = -1

    @property
    def records(self) -> int:
        """Records arrived: the settled ones and those above."""
        return self.settled + 1 + self.arrived.count

    def settle(self, upto: int) -> bool:
        """Seqs up to ``upto`` arrived; whether that settled more than before."""
        if upto <= self.settled:
            return False
        self.settled = upto
        self.arrived.drop_upto(upto)
        return True

    def known(self, upto: int, at: datetime) -> None:
        """Seqs up to ``upto`` are known to exist from ``at`` on (if not known before)."""
        if self.seen_upto and upto <= self.seen_upto[-1]:
            return
        if self.seen_at and at < self.seen_at[-1]:
            at = self.seen_at[-1]  # the timeline stays in order under a skewed report
        self.seen_upto.append(upto)
        self.seen_at.append(at)


class Ledger:
    """Per-stream interval sets of arrived seqs, the connectors' reports, and their account."""

    def __init__(self, *, parts_window: int = PARTS_WINDOW, max_gaps: int = MAX_GAPS) -> None:
        if parts_window < 1 or max_gaps < 0:
            raise ValueError("parts_window must be >= 1 and max_gaps >= 0")
        self.parts_window = parts_window
        self.max_gaps = max_gaps
        self._streams: dict[tuple[str, str, str, str], _Stream] = {}

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def keys(self) -> list[StreamKey]:
        return [StreamKey(*k) for k in self._streams]

    def _stream(self, key: tuple[str, str, str, str]) -> _Stream:
        st = self._streams.get(key)
        if st is None:
            st = self._streams[StreamKey(*key)] = _Stream()
        return st

    # -- arrivals -----------------------------------------------------------------

    def observe(self, tenant: str, origin: Origin | None) -> Seen:
        """Count one stored event of ``tenant`` by its origin."""
        if origin is None or origin.drill:
            return IGNORED
        key = (tenant, origin.connector, origin.source, origin.stream)
        st = self._streams.get(key)
        if st is None:
            st = self._stream(key)
        seq = origin.seq
        parts = st.parts
        if origin.part == 0 and (not parts or seq not in parts):
            arrived = st.arrived
            ends = arrived._ends
            if ends and ends[-1] == seq - 1:  # the next seq in order: extend the last range
                ends[-1] = seq
                arrived._count += 1
                st.events += 1
                return NEW
            if seq > st.settled and arrived.add(seq):
                st.events += 1
                return NEW
            st.duplicates += 1
            return DUPLICATE
        return self._observe_part(st, seq, origin.part)

    def _observe_part(self, st: _Stream, seq: int, part: int) -> Seen:
        """A record that gave several events: its parts are remembered while it is recent."""
        ps = st.parts.get(seq)
        if ps is None:
            ps = IntervalSet()
            if seq <= st.settled or not st.arrived.add(seq):
                if seq <= st.horizon:  # forgotten: it arrived whole
                    st.duplicates += 1
                    return DUPLICATE
                ps.add(0)  # it arrived before as a single event, part 0
            st.parts[seq] = ps
            if len(st.parts) > self.parts_window:
                oldest = next(iter(st.parts))
                del st.parts[oldest]
                st.horizon = max(st.horizon, oldest)
        if ps.add(part):
            st.events += 1
            return NEW
        st.duplicates += 1
        return DUPLICATE

    def observe_event(self, event: Event) -> Seen:
        return self.observe(event.tenant, event.origin)

    def observe_events(self, events: Iterable[Event]) -> dict[Seen, int]:
        """Count a batch (as the store writes it); how many of each outcome.

        The same as :meth:`observe` for each event, in a tighter loop: consecutive
        events of one stream (a connector ships a stream's records in batches) find
        their stream without a look-up, and the next seq in order extends the last
        range in place.
        """
        new = dup = ignored = 0
        streams = self._streams
        tenant = connector = source = stream = ""
        st: _Stream | None = None
        ends: list[int] = []
        run = 0  # in-order extensions of ``st`` not yet added to its counts
        fast = False  # ``st`` has no multi-part records: part 0 needs no parts look-up
        for ev in events:
            o = ev.origin
            if o is None or o.drill:
                ignored += 1
                continue
            if (
                st is None
                or o.stream != stream
                or o.source != source
                or o.connector != connector
                or ev.tenant != tenant
            ):
                if st is not None and run:
                    st.events += run
                    st.arrived._count += run
                    new += run
                    run = 0
                tenant, connector, source, stream = ev.tenant, o.connector, o.source, o.stream
                key = (tenant, connector, source, stream)
                st = streams.get(key) or self._stream(key)
                ends = st.arrived._ends
                fast = not st.parts
            seq = o.seq
            if fast and o.part == 0 and ends and ends[-1] == seq - 1:
                ends[-1] = seq  # the next seq in order: extend the last range
                run += 1
                continue
            if run:
                st.events += run
                st.arrived._count += run
                new += run
                run = 0
            if self.observe(ev.tenant, o) == NEW:
                new += 1
            else:
                dup += 1
            fast = not st.parts
        if st is not None and run:
            st.events += run
            st.arrived._count += run
            new += run
        return {NEW: new, DUPLICATE: dup, IGNORED: ignored}

    # -- the connector's word -----------------------------------------------------

    def report(self, key: StreamKey, highest_sent: int, at: datetime) -> None:
        """The connector says it sent ``key``'s records up to ``highest_sent`` by ``at``."""
        if highest_sent < 0:
            raise ValueError(f"highest_sent must be >= 0: {highest_sent}")
        st = self._stream(key)
        if highest_sent >= st.reported:
            st.reported = highest_sent
            st.reported_at = at
        st.known(highest_sent, at)

    # -- the account --------------------------------------------------------------

    def reconcile(self, now: datetime, grace: timedelta) -> Reconciliation:
        """Every stream's gaps at ``now``: older than ``grace`` lost, newer pending."""
        cutoff = now - grace
        streams = [
            self._reconcile(StreamKey(*k), st, now, cutoff) for k, st in self._streams.items()
        ]
        totals: dict[str, TenantLoss] = {}
        for s in streams:
            t = totals.get(s.tenant)
            if t is None:
                t = totals[s.tenant] = TenantLoss(
                    tenant=s.tenant, streams=0, streams_losing=0, lost=0, pending=0, duplicates=0
                )
            t.streams += 1
            t.streams_losing += 1 if s.lost else 0
            t.lost += s.lost
            t.pending += s.pending
            t.duplicates += s.duplicates
        return Reconciliation(
            at=now,
            grace_s=grace.total_seconds(),
            streams=streams,
            tenants=[totals[t] for t in sorted(totals)],
        )

    def _reconcile(
        self, key: StreamKey, st: _Stream, now: datetime, cutoff: datetime
    ) -> StreamReconciliation:
        high = max(st.arrived.max, st.settled)
        upper = max(high, st.reported)
        if upper >= 0:
            st.known(upper, now)
        gaps: list[Gap] = []
        gaps_total = lost = pending = 0
        used: set[int] = set()
        uptos, ats = st.seen_upto, st.seen_at
        for lo, hi in st.arrived.missing(upper, start=st.settled + 1):
            # Split the hole where the timeline does: each piece has one first-seen time.
            i = bisect_left(uptos, lo)
            while lo <= hi:
                end = min(hi, uptos[i])
                used.add(i)
                if ats[i] <= cutoff:
                    gaps_total += 1
                    lost += end - lo + 1
                    if len(gaps) < self.max_gaps:
                        gaps.append(
                            Gap(from_seq=lo, to_seq=end, count=end - lo + 1, first_seen=ats[i])
                        )
                else:
                    pending += end - lo + 1
                lo = end + 1
                i += 1
        if uptos:
            used.add(len(uptos) - 1)
            if len(used) < len(uptos):
                keep = sorted(used)
                st.seen_upto = [uptos[i] for i in keep]
                st.seen_at = [ats[i] for i in keep]
        return StreamReconciliation(
            tenant=key.tenant,
            connector=key.connector,
            source=key.source,
            stream=key.stream,
            records=st.records,
            events=st.events,
            duplicates=st.duplicates,
            highest_arrived=high if high >= 0 else None,
            reported_highest=st.reported if st.reported >= 0 else None,
            reported_at=st.reported_at,
            gaps=gaps,
            gaps_total=gaps_total,
            lost=lost,
            pending=pending,
        )

    # -- persisting ---------------------------------------------------------------

    def snapshot(self, taken: datetime | None = None) -> LedgerSnapshot:
        return LedgerSnapshot(
            taken=taken,
            streams=[
                StreamState(
                    tenant=k[0],
                    connector=k[1],
                    source=k[2],
                    stream=k[3],
                    arrived=st.arrived.to_pairs(),
                    events=st.events,
                    duplicates=st.duplicates,
                    reported=st.reported,
                    reported_at=st.reported_at,
                    parts={seq: ps.to_pairs() for seq, ps in st.parts.items()},
                    parts_horizon=st.horizon,
                    settled=st.settled,
                    seen=list(zip(st.seen_upto, st.seen_at, strict=True)),
                )
                for k, st in self._streams.items()
            ],
        )

    @classmethod
    def restore(
        cls,
        snapshot: LedgerSnapshot,
        *,
        parts_window: int = PARTS_WINDOW,
        max_gaps: int = MAX_GAPS,
    ) -> Ledger:
        ledger = cls(parts_window=parts_window, max_gaps=max_gaps)
        for s in snapshot.streams:
            st = ledger._stream((s.tenant, s.connector, s.source, s.stream))
            st.arrived = IntervalSet.from_pairs(s.arrived)
            st.events = s.events
            st.duplicates = s.duplicates
            st.reported = s.reported
            st.reported_at = s.reported_at
            st.parts = {seq: IntervalSet.from_pairs(p) for seq, p in s.parts.items()}
            st.horizon = s.parts_horizon
            st.settle(s.settled)
            st.seen_upto = [u for u, _ in s.seen]
            st.seen_at = [a for _, a in s.seen]
        return ledger

    def merge(self, snapshot: LedgerSnapshot) -> None:
        """Add another owner's account of the same streams (a union, never a double count).

        With several event sinks each keeps the ledger of the partitions it consumes; a
        rebalance moves a stream to another one, which starts it afresh. The two
        accounts are then of disjoint deliveries: the seqs arrived are their union, a
        seq in both arrived twice (a batch re-read after the rebalance) and is a
        duplicate; counts add up. The connector's report is the higher one; each missing
        seq keeps the earliest time either owner knew it was missing.
        """
        for s in snapshot.streams:
            key = (s.tenant, s.connector, s.source, s.stream)
            if key not in self._streams:
                restored = Ledger.restore(LedgerSnapshot(streams=[s]))._streams[key]
                self._streams[StreamKey(*key)] = restored
                continue
            st = self._streams[key]
            st.settle(s.settled)
            overlap = 0
            for lo, hi in s.arrived:
                lo = max(lo, st.settled + 1)  # a settled seq is arrived: not a duplicate
                if lo <= hi:
                    overlap += (hi - lo + 1) - st.arrived.add_range(lo, hi)
            st.events = max(st.events + s.events - overlap, st.records)
            st.duplicates += s.duplicates + overlap
            if s.reported > st.reported:
                st.reported, st.reported_at = s.reported, s.reported_at
            for seq, pairs in sorted(s.parts.items()):
                ps = st.parts.get(seq)
                if ps is None:
                    st.parts[seq] = IntervalSet.from_pairs(pairs)
                else:
                    for lo, hi in pairs:
                        ps.add_range(lo, hi)
            while len(st.parts) > self.parts_window:
                oldest = min(st.parts)
                del st.parts[oldest]
                st.horizon = max(st.horizon, oldest)
            st.horizon = max(st.horizon, s.parts_horizon)
            st.seen_upto, st.seen_at = _merged_timeline(
                [*zip(st.seen_upto, st.seen_at, strict=True), *s.seen]
            )

    def settled_prefixes(self) -> dict[StreamKey, int]:
        """Per stream, the highest seq up to which no seq is missing (-1: seq 0 is)."""
        out: dict[StreamKey, int] = {}
        for k, st in self._streams.items():
            upto = st.settled
            first = next(iter(st.arrived), None)
            if first is not None and first[0] == upto + 1:
                upto = first[1]
            out[StreamKey(*k)] = upto
        return out

    def settle(self, key: StreamKey, upto: int) -> bool:
        """Every seq of ``key`` up to ``upto`` has arrived (at some owner): the ranges below
        give way to the one number (see the module's "Settling"); whether anything did."""
        st = self._streams.get(key)
        return st is not None and st.settle(upto)

    @classmethod
    def merged(cls, snapshots: Iterable[LedgerSnapshot], **kwargs: int) -> Ledger:
        """One ledger of several owners' snapshots (see :meth:`merge`)."""
        ledger = cls(**kwargs)
        for snapshot in snapshots:
            ledger.merge(snapshot)
        return ledger

    def to_json(self, taken: datetime | None = None) -> bytes:
        return self.snapshot(taken).model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str, **kwargs: int) -> Ledger:
        return cls.restore(LedgerSnapshot.model_validate_json(data), **kwargs)


def _merged_timeline(
    entries: list[tuple[int, datetime]],
) -> tuple[list[int], list[datetime]]:
    """Two timelines as one: a seq's first-seen time is the earliest either gives it.

    Each timeline gives seq ``n`` the time of its first entry at or above ``n`` (its times
    rise with its seqs), which is the earliest time of those entries; over both, the
    earliest time among all entries at or above ``n``: a suffix minimum.
    """
    entries.sort()
    uptos: list[int] = []
    ats: list[datetime] = []
    for upto, at in reversed(entries):
        if ats and at >= ats[-1]:
            continue  # an entry above it gives its seqs a time as early: it adds nothing
        if uptos and uptos[-1] == upto:
            ats[-1] = at
        else:
            uptos.append(upto)
            ats.append(at)
    uptos.reverse()
    ats.reverse()
    return uptos, ats


def publish(result: Reconciliation) -> None:
    """Set the ledger's gauges (label: tenant) from a reconciliation."""
    for t in result.tenants:
        m.EVENTS_LOST.labels(t.tenant).set(t.lost)
        m.EVENTS_LATE.labels(t.tenant).set(t.pending)
        m.EVENTS_DUPLICATE.labels(t.tenant).set(t.duplicates)
        m.STREAMS_LOSING.labels(t.tenant).set(t.streams_losing)

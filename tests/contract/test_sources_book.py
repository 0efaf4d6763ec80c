"""The sources book on SQLite and a real OpenSearch: heartbeats make and update one
record per (tenant, connector, source, stream), listed per tenant with their state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from soc.models import Heartbeat, StreamBeat
from soc.sources.book import SourceBook, SourceState
from soc.store import Store

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
STREAM = "2049:1835:9f2c41d07a3be815"


def beat(seq: int | None, backlog: int = 0, *, connector: str = "web-01") -> Heartbeat:
    return Heartbeat(
        connector=connector,
        version="0.1.0",
        host="web-01",
        interval_s=30,
        streams=[
            StreamBeat(source="auth", stream=STREAM, seq=seq, backlog=backlog, oldest_s=4.5),
            StreamBeat(source="auth", stream=STREAM + "@1", seq=9),
        ],
    )


async def test_heartbeats_keep_one_record_per_stream(store: Store) -> None:
    book = SourceBook(store)
    await book.beat("hue-ioc", beat(100, backlog=20), now=T0)
    await book.beat("hue-ioc", beat(None, backlog=3), now=T0 + timedelta(seconds=30))
    await book.beat("hue-dof", beat(5, connector="fw-01"), now=T0 + timedelta(seconds=40))

    views = await book.list(["hue-ioc"], now=T0 + timedelta(seconds=45))
    assert len(views) == 2
    main = next(v for v in views if v.stream == STREAM)
    assert main.first_seen == T0
    assert main.last_seen == T0 + timedelta(seconds=30)
    assert main.seq == 100  # a report without a seq (an agent just restarted) keeps it
    assert (main.backlog, main.oldest_backlog_s, main.failures) == (3, 4.5, 0)
    assert (main.version, main.host, main.interval_s) == ("0.1.0", "web-01", 30)
    assert main.state == SourceState.healthy

    later = await book.list(["hue-ioc"], now=T0 + timedelta(seconds=30 + 60))
    assert {v.state for v in later} == {SourceState.late}
    later = await book.list(["hue-ioc"], now=T0 + timedelta(seconds=30 + 150))
    assert {v.state for v in later} == {SourceState.silent}

    assert {v.tenant for v in await book.list(None)} == {"hue-ioc", "hue-dof"}
    assert [v.connector for v in await book.list(["hue-dof"])] == ["fw-01", "fw-01"]
    assert await book.list(["hue-ioc"], connector="fw-01") == []
    assert await book.list([]) == []


async def test_a_heartbeat_past_the_last_arrival_is_a_gap_at_the_streams_end(
    store: Store,
) -> None:
    """The ledger merged from the store reads the connectors' reports: records 0..4 arrived,
    the connector says it delivered up to 9: once the grace is over, 5..9 are lost."""
    from soc.models import Origin
    from soc.sources.ledger import Ledger
    from soc.sources.records import LedgerRecords

    ledger = Ledger()
    for seq in range(5):
        origin = Origin(connector="web-01", source="auth", stream=STREAM, seq=seq)
        ledger.observe("hue-ioc", origin)
    records = LedgerRecords(store)
    await records.save("sink-1", ledger, T0)
    await SourceBook(store).beat("hue-ioc", beat(9), now=T0)
    merged = await records.merged(["hue-ioc"])
    early = merged.reconcile(T0 + timedelta(seconds=10), timedelta(minutes=5))
    [stream] = [s for s in early.streams if s.stream == STREAM]
    assert stream.lost == 0 and stream.reported_highest == 9
    later = merged.reconcile(T0 + timedelta(minutes=6), timedelta(minutes=5))
    [stream] = [s for s in later.streams if s.stream == STREAM]
    assert [(g.from_seq, g.to_seq, g.count) for g in stream.gaps] == [(5, 9, 5)]
    assert stream.lost == 5

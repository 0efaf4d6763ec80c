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

"""Sources' activity and dead-letter counts on SQLite and a real OpenSearch: each owner's
records written at their version, read back at restart, and merged across owners when the
sources are listed with their heartbeats, per tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from soc.models import DeadLetter, Event, Heartbeat, LogSource, Origin, StreamBeat
from soc.settings import SourcesSettings
from soc.sources.book import SourceBook
from soc.sources.keeper import ActivityKeeper, RejectsKeeper
from soc.sources.status import statuses
from soc.store import Store

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ORIGIN = {"connector": "dc-01", "source": "winlog", "stream": "Security"}


def events(tenant: str, seqs: range, at: datetime) -> list[Event]:
    return [
        Event(
            id=f"{tenant}-{seq}",
            tenant=tenant,
            source="winlog",
            time=at,
            received=at + timedelta(seconds=seq),
            logsource=LogSource(),
            raw={},
            fields={},
            origin=Origin(**ORIGIN, seq=seq),
        )
        for seq in seqs
    ]


async def test_two_sinks_counts_merged_and_restored(store: Store) -> None:
    settings = SourcesSettings(owner="sink-a", snapshot_s=3600)
    a = ActivityKeeper(store=store, settings=settings)
    b = ActivityKeeper(store=store, settings=settings.model_copy(update={"owner": "sink-b"}))
    batch = events("hue-ioc", range(10), T0)
    a.observe(batch, [100] * 10)
    await a.save()
    a.observe(events("hue-ioc", range(10, 12), T0), [100, 100])
    await a.save()  # a second write, at the version the first left
    b.observe(events("hue-ioc", range(12, 15), T0), [50] * 3)
    b.observe(events("hue-dof", range(3), T0), [10] * 3)
    await b.save()
    letters = RejectsKeeper(store=store, settings=settings)
    bad = DeadLetter.of(
        b"{", tenant="hue-ioc", source="winlog", received=T0, stage="ingest", reason="not_json",
        detail="", line=1,
    )  # fmt: skip
    letters.observe([bad])
    await letters.save()
    await SourceBook(store).beat(
        "hue-ioc",
        Heartbeat(
            connector="fw-01",
            version="0.1.0",
            host="fw-01",
            interval_s=30,
            streams=[StreamBeat(source="fw", stream="udp:514", seq=3)],
        ),
        now=T0,
    )

    now = T0 + timedelta(seconds=20)
    views = await statuses(store, settings, ["hue-ioc"], now=now)
    assert [(v.connector, v.source, v.stream) for v in views] == [
        ("dc-01", "winlog", "Security"),
        ("fw-01", "fw", "udp:514"),
    ]
    dc, fw = views
    assert (dc.events_24h, dc.bytes_24h, dc.events_1h) == (15, 1350, 15)
    assert dc.hourly[-1] == 15 and len(dc.hourly) == 24
    assert dc.last_event == T0 + timedelta(seconds=14)
    assert (dc.dead_letters_24h, dc.parse_errors_24h) == (1, 1)
    assert (dc.expected_interval_s, dc.expected_interval_from) == (3600, "default")
    assert dc.state == "healthy" and dc.heartbeat_state is None
    assert (fw.state, fw.heartbeat_state, fw.seq, fw.last_event) == ("healthy", "healthy", 3, None)
    assert fw.hourly == [0] * 24
    (other,) = await statuses(store, settings, ["hue-dof"], now=now)
    assert other.events_24h == 3

    restored = ActivityKeeper(store=store, settings=settings)
    await restored.restore()
    (mine,) = restored.activity.values()
    assert mine.events == 12  # sink-a's own count; sink-b's is its own

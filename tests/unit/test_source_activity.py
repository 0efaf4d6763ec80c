"""Sources' activity: the gaps' histogram and its percentile, the counts kept per source,
the expected interval (configured, learned, default) and the state judged from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc.models import Event, LogSource, Origin, Severity
from soc.settings import ExpectedInterval, SourcesSettings
from soc.sources import gaps
from soc.sources.activity import Activity, Rejects, key_of, merge
from soc.sources.health import Health, duration, expected, judge
from soc.sources.models import StreamKey

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
KEY = StreamKey("hue-ioc", "dc-01", "windows-security", "Security")


def test_buckets_are_half_octaves_and_the_percentile_errs_long() -> None:
    assert [gaps.bucket(g) for g in (0.2, 1, 1.4, 1.5, 2, 3, 4, 3600)] == [0, 0, 1, 2, 2, 4, 4, 24]
    assert all(g <= gaps.upper(gaps.bucket(g)) < g * 1.42 for g in (1.5, 7, 300, 3601, 86_400))
    counts: dict[int, int] = {}
    hist: gaps.Histogram = {}
    for _ in range(990):
        gaps.add(hist, 100, 60)
    for _ in range(10):
        gaps.add(hist, 100, 3600)
    counts = gaps.window(hist, 100)
    assert gaps.total(counts) == 1000
    p99 = gaps.percentile(counts, 99)
    assert p99 is not None and 60 <= p99 < 85  # 1 % of gaps are longer: the 99th is a minute
    p999 = gaps.percentile(counts, 99.9)
    assert p999 is not None and 3600 <= p999 < 3600 * 1.42
    assert gaps.percentile({}, 99) is None


def test_a_histogram_keeps_a_week() -> None:
    hist: gaps.Histogram = {}
    for day in range(100, 110):
        gaps.add(hist, day, 10)
    assert sorted(hist) == list(range(102, 110))  # today and the 7 days before it
    assert gaps.total(gaps.window(hist, 115)) == 2  # days 108 and 109 are in its week
    assert gaps.total(gaps.window(hist, 117)) == 0
    assert gaps.total(gaps.window(gaps.merge([hist, hist]), 109)) == 16


def test_activity_counts_hours_minutes_bytes_and_gaps() -> None:
    a = Activity.of(KEY)
    for i in range(5):  # a batch of five in one second: one arrival
        a.observe(T0 + timedelta(milliseconds=10 * i), 100)
    a.observe(T0 + timedelta(minutes=30), 50, breaks_min_s=3600)
    a.observe(T0 + timedelta(hours=3), 50, breaks_min_s=3600)
    now = T0 + timedelta(hours=3, minutes=10)
    assert a.events == 7
    hourly = a.hourly(now)
    assert len(hourly) == 24 and hourly[-1] == 1 and hourly[-4] == 6 and sum(hourly) == 7
    assert a.bytes_24h(now) == 600
    assert a.events_1h(now) == 1
    assert gaps.total(a.gap_counts(now)) == 2  # 30 min, then 2 h 30 min
    assert a.breaks == [(T0 + timedelta(minutes=30), T0 + timedelta(hours=3))]
    assert a.silence_before(T0 + timedelta(minutes=30), now) == 9000
    assert a.hourly(T0 + timedelta(days=2)) == [0] * 24
    b = Activity.of(KEY)
    b.observe(T0 + timedelta(hours=4), 10)
    m = merge([a, b])[KEY]
    assert (m.events, m.first_event, m.last_event) == (8, T0, T0 + timedelta(hours=4))
    assert a.events == 7  # merging copies


def event(origin: Origin | None, source: str = "windows-security") -> Event:
    return Event(
        id="e",
        tenant="hue-ioc",
        source=source,
        time=T0,
        received=T0,
        logsource=LogSource(),
        raw={},
        fields={},
        origin=origin,
    )


def test_where_events_count() -> None:
    o = Origin(connector="dc-01", source="windows-security", stream="Security", seq=1)
    assert key_of(event(o)) == KEY
    assert key_of(event(None, "syslog")) == StreamKey("hue-ioc", "-", "syslog", "-")
    assert key_of(event(o.model_copy(update={"drill": "d1"}))) is None


def test_dead_letters_and_parse_errors_per_hour() -> None:
    r = Rejects(tenant="hue-ioc", source="syslog")
    r.count(T0, "not_json")
    r.count(T0, "store_refused")
    r.count(T0 - timedelta(hours=30), "invalid")
    assert r.last_24h(T0) == (2, 1)


def with_gaps(n: int, gap_s: int) -> dict[int, int]:
    hist: gaps.Histogram = {}
    for _ in range(n):
        gaps.add(hist, 10, gap_s)
    return gaps.window(hist, 10)


def test_expected_interval_configured_learned_or_default() -> None:
    settings = SourcesSettings(
        expected=[
            ExpectedInterval(connector="dc-01", interval_s=900, severity="high"),
            ExpectedInterval(tenant="hue-ioc", source="fw", severity="critical"),
        ],
        learn_min_gaps=20,
        min_interval_s=300,
        default_interval_s=3600,
    )
    assert expected(KEY, {}, settings) == (900, "configured", Severity.high)
    fw = StreamKey("hue-ioc", "fw-01", "fw", "udp:514")
    assert expected(fw, with_gaps(5, 30), settings) == (3600, "default", Severity.critical)
    assert expected(fw, with_gaps(100, 30), settings) == (300, "learned", Severity.critical)
    learned = expected(fw, with_gaps(100, 1200), settings)
    assert learned.origin == "learned" and 1200 <= learned.interval_s < 1700
    other = StreamKey("hue-dof", "fw-01", "fw", "udp:514")
    assert expected(other, {}, settings).severity is Severity.medium


@pytest.mark.parametrize(
    ("quiet_s", "losing", "state"),
    [
        (30, False, Health.healthy),
        (61, False, Health.late),
        (30, True, Health.losing),
        (181, True, Health.silent),
        (181, False, Health.silent),
    ],
)
def test_state_judged_from_the_last_event(quiet_s: int, losing: bool, state: Health) -> None:
    last = T0 - timedelta(seconds=quiet_s)
    assert judge(last, 60, silent_factor=3, now=T0, losing=losing) is state


def test_silence_length_in_words() -> None:
    assert duration(2 * 3600 + 14 * 60 + 20) == "2 h 14 min"
    assert [duration(s) for s in (4, 65, 3600, 90_000)] == ["4 s", "1 min 5 s", "1 h", "1 d 1 h"]

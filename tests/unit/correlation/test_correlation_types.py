"""Each correlation type and each condition operator: matches that must fire, and must not."""

from __future__ import annotations

import pytest

from tests.unit.correlation._util import corr, correlations, fired, hit, run


def test_event_count_fires_once_per_window_for_the_group_that_reaches_the_count() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 3}), "fail")
    matches = [
        *hit(catalog, "fail", 0, src="203.0.113.9"),
        *hit(catalog, "fail", 10, src="198.51.100.7"),
        *hit(catalog, "fail", 20, src="203.0.113.9"),
        *hit(catalog, "fail", 30, src="198.51.100.7"),
        *hit(catalog, "fail", 40, src="203.0.113.9"),
    ]
    alerts = run(catalog, matches)
    assert fired(alerts) == [({"src": "203.0.113.9"}, 3.0)]
    (alert,) = alerts
    info = alert.correlation
    assert info is not None
    assert alert.severity == "high"
    assert alert.rule_id == catalog.all[0].id
    assert info.type == "event_count"
    assert info.window_start.second == 0 and info.window_end.second == 40
    assert info.event_ids == ["ev-fail-0-0", "ev-fail-20-0", "ev-fail-40-0"]
    assert len(info.alert_ids) == 3
    assert alert.event_id == "ev-fail-40-0"
    assert alert.time == info.window_end


def test_a_burst_raises_one_alert_per_window_not_one_per_match() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 10}, timespan="1m"), "fail")
    burst = [m for i in range(1000) for m in hit(catalog, "fail", i * 0.1, n=i, src="a")]
    alerts = run(catalog, burst)  # 100 s of failures, ten a second
    starts = [a.correlation.window_start for a in alerts if a.correlation]
    assert len(alerts) == 2  # [0 s, 60 s] fires at 0.9 s; the next window from 60.1 s
    assert (starts[1] - starts[0]).total_seconds() == pytest.approx(60.1)


def test_value_count_counts_distinct_values_of_the_field() -> None:
    text = corr("value_count", ["fail"], {"field": "user", "gte": 3})
    catalog = correlations(text, "fail")
    spray = [m for i, u in enumerate(["root", "admin", "root", "oracle"]) for m in
             hit(catalog, "fail", i, src="a", user=u)]  # fmt: skip
    same_user = [m for i in range(10) for m in hit(catalog, "fail", i, n=i, src="b", user="root")]
    assert fired(run(catalog, [*spray, *same_user])) == [({"src": "a"}, 3.0)]


def test_value_count_over_several_fields_counts_their_combinations() -> None:
    text = corr("value_count", ["fail"], {"field": ["user", "dst"], "gte": 2})
    catalog = correlations(text, "fail")
    one_pair = [*hit(catalog, "fail", 0, src="a", user="root", dst="x"),
                *hit(catalog, "fail", 1, n=1, src="a", user="root", dst="x")]  # fmt: skip
    assert fired(run(catalog, one_pair)) == []
    two_pairs = [*one_pair, *hit(catalog, "fail", 2, src="a", user="root", dst="y")]
    assert fired(run(catalog, two_pairs)) == [({"src": "a"}, 2.0)]


def test_temporal_needs_every_rule_within_the_timespan_in_any_order() -> None:
    catalog = correlations(corr("temporal", ["recon_a", "recon_b", "recon_c"]),
                           "recon_a", "recon_b", "recon_c")  # fmt: skip
    in_time = [*hit(catalog, "recon_c", 0, src="h1"), *hit(catalog, "recon_a", 20, src="h1"),
               *hit(catalog, "recon_b", 40, src="h1")]  # fmt: skip
    too_slow = [*hit(catalog, "recon_a", 0, src="h2"), *hit(catalog, "recon_b", 20, src="h2"),
                *hit(catalog, "recon_c", 61, src="h2")]  # fmt: skip
    two_only = [m for i in range(5) for m in hit(catalog, "recon_a", i, n=i, src="h3")]
    two_only += hit(catalog, "recon_b", 6, src="h3")
    assert fired(run(catalog, [*in_time, *too_slow, *two_only])) == [({"src": "h1"}, 3.0)]


def test_temporal_ordered_needs_the_rules_in_their_order() -> None:
    catalog = correlations(corr("temporal_ordered", ["fail", "success"]), "fail", "success")
    ordered = [*hit(catalog, "fail", 0, src="a"), *hit(catalog, "success", 30, src="a")]
    reversed_ = [*hit(catalog, "success", 0, src="b"), *hit(catalog, "fail", 30, src="b")]
    same_second = [*hit(catalog, "success", 5, src="c"), *hit(catalog, "fail", 5, src="c")]
    alerts = run(catalog, [*ordered, *reversed_, *same_second])
    assert fired(alerts) == [({"src": "c"}, 2.0), ({"src": "a"}, 2.0)]  # in time order


def test_value_sum_adds_the_numbers_of_the_field() -> None:
    catalog = correlations(corr("value_sum", ["web"], {"field": "bytes", "gt": 1000}), "web")
    big = [
        *hit(catalog, "web", 0, src="a", bytes=600),
        *hit(catalog, "web", 1, src="a", bytes="500"),
    ]
    small = [
        *hit(catalog, "web", 0, src="b", bytes=600),
        *hit(catalog, "web", 1, src="b", bytes=400),
    ]
    assert fired(run(catalog, [*big, *small])) == [({"src": "a"}, 1100.0)]


def test_value_avg_fires_when_the_average_passes_the_limit() -> None:
    catalog = correlations(corr("value_avg", ["web"], {"field": "bytes", "gt": 500.5}), "web")
    high = [
        *hit(catalog, "web", 0, src="a", bytes=400),
        *hit(catalog, "web", 1, src="a", bytes=700),
    ]
    low = [*hit(catalog, "web", 0, src="b", bytes=400), *hit(catalog, "web", 1, src="b", bytes=601)]
    assert fired(run(catalog, [*high, *low])) == [({"src": "a"}, 550.0)]


def test_value_percentile_uses_the_nearest_rank_percentile() -> None:
    text = corr("value_percentile", ["web"], {"field": "ms", "percentile": 90, "gte": 900})
    catalog = correlations(text, "web")
    slow = [
        m for i, v in enumerate([100, 200, 950, 990]) for m in hit(catalog, "web", i, src="a", ms=v)
    ]
    fast = [
        m for i, v in enumerate([100, 200, 300, 950]) for m in hit(catalog, "web", i, src="b", ms=v)
    ]
    # b: p90 of its first three is 300; of all four, 950 -> it fires at its fourth match
    assert fired(run(catalog, [*slow, *fast])) == [({"src": "a"}, 950.0), ({"src": "b"}, 950.0)]
    text = corr("value_percentile", ["web"], {"field": "ms", "percentile": 50, "gte": 900})
    catalog = correlations(text, "web")
    fast = [
        m for i, v in enumerate([100, 200, 300, 950]) for m in hit(catalog, "web", i, src="b", ms=v)
    ]
    assert fired(run(catalog, fast)) == []


def test_value_median() -> None:
    catalog = correlations(corr("value_median", ["web"], {"field": "ms", "gt": 150}), "web")
    matches = [
        m for i, v in enumerate([100, 200, 300]) for m in hit(catalog, "web", i, src="a", ms=v)
    ]
    # medians as matches arrive: 100, 150 (not > 150), 200
    assert fired(run(catalog, matches)) == [({"src": "a"}, 200.0)]


def counts(catalog_text: str, per_group: dict[str, int]) -> list[str]:
    """Groups that fire when each group gets the given number of matches in one window."""
    catalog = correlations(catalog_text, "fail")
    matches = [m for src, n in per_group.items() for i in range(n)
               for m in hit(catalog, "fail", i, n=i, src=src)]  # fmt: skip
    return sorted(g["src"] for g, _ in fired(run(catalog, matches)))


GROUPS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"gt": 3}, ["five", "four"]),
        ({"gte": 3}, ["five", "four", "three"]),
        ({"lt": 3}, ["one", "two"]),
        ({"lte": 3}, ["one", "three", "two"]),
        ({"eq": 3}, ["three"]),
        ({"neq": 3}, ["five", "four", "one", "two"]),
        ({"gt": 1, "lte": 3}, ["three", "two"]),
        ({"gte": 2, "lt": 5}, ["four", "three", "two"]),
        ({"gte": 2, "neq": 4}, ["five", "three", "two"]),
    ],
    ids=lambda v: str(v),
)
def test_each_operator_and_range(condition: dict[str, int], expected: list[str]) -> None:
    assert counts(corr("event_count", ["fail"], condition), GROUPS) == expected


def test_conditions_with_an_upper_bound_are_judged_when_the_window_closes() -> None:
    """lt 3 at a group's first match would hold at once; it must wait for the whole window."""
    catalog = correlations(corr("event_count", ["fail"], {"lt": 3}), "fail")
    matches = [m for i in range(4) for m in hit(catalog, "fail", i * 10, n=i, src="a")]
    matches += hit(catalog, "fail", 100, src="a")  # a new window, alone in it
    alerts = run(catalog, matches)
    assert fired(alerts) == [({"src": "a"}, 1.0)]
    info = alerts[0].correlation
    assert info is not None
    assert (info.window_start.second, info.window_end.minute, info.window_end.second) == (40, 2, 40)

"""The evaluator as a stream: windows, lateness, groups, aliases, generate, chains, caps, state."""

from __future__ import annotations

import random
import zlib
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator, Snapshot
from soc.models import Alert
from soc.settings import CorrelationSettings
from tests.unit.correlation._util import (
    T0,
    Clock,
    corr,
    correlations,
    evaluator,
    fired,
    hit,
    load,
    rule_id,
    run,
)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_matches_exactly_timespan_apart_are_in_one_window() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 2}, timespan="1m"), "fail")
    edge = [*hit(catalog, "fail", 0, src="a"), *hit(catalog, "fail", 60, src="a")]
    beyond = [*hit(catalog, "fail", 0, src="b"), *hit(catalog, "fail", 60.001, src="b")]
    assert fired(run(catalog, [*edge, *beyond])) == [({"src": "a"}, 2.0)]


def test_a_window_judged_at_close_includes_a_match_exactly_at_its_end() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"eq": 2}, timespan="1m"), "fail")
    edge = [*hit(catalog, "fail", 0, src="a"), *hit(catalog, "fail", 60, src="a")]
    beyond = [*hit(catalog, "fail", 0, src="b"), *hit(catalog, "fail", 60.001, src="b")]
    assert fired(run(catalog, [*edge, *beyond])) == [({"src": "a"}, 2.0)]


def test_an_event_without_a_group_by_field_feeds_no_group() -> None:
    catalog = correlations(
        corr("event_count", ["fail"], {"gte": 2}, group_by=["src", "user"]), "fail"
    )
    before = metric("soc_correlation_matches_total", outcome="no_group")
    partial = [*hit(catalog, "fail", 0, src="a"), *hit(catalog, "fail", 1, src="a", user="")]
    assert partial == []
    assert metric("soc_correlation_matches_total", outcome="no_group") == before + 2
    full = [
        *hit(catalog, "fail", 0, src="a", user="root"),
        *hit(catalog, "fail", 1, src="a", user=["root"]),
    ]
    assert fired(run(catalog, full)) == [({"src": "a", "user": "root"}, 2.0)]


def test_a_value_type_ignores_events_without_a_usable_value() -> None:
    catalog = correlations(corr("value_sum", ["web"], {"field": "bytes", "gte": 10}), "web")
    before = metric("soc_correlation_matches_total", outcome="no_value")
    assert [*hit(catalog, "web", 0, src="a"), *hit(catalog, "web", 1, src="a", bytes="many"),
            *hit(catalog, "web", 2, src="a", bytes=True)] == []  # fmt: skip
    assert metric("soc_correlation_matches_total", outcome="no_value") == before + 3


def test_aliases_group_one_address_under_different_field_names() -> None:
    text = corr(
        "temporal",
        ["internal_error", "new_connection"],
        group_by=["internal_ip", "remote_ip"],
        timespan="10s",
        aliases={
            "internal_ip": {"internal_error": "destination.ip", "new_connection": "source.ip"},
            "remote_ip": {"internal_error": "source.ip", "new_connection": "destination.ip"},
        },
    )
    catalog = correlations(text, "internal_error", "new_connection")
    inside, outside = "10.0.0.5", "203.0.113.9"
    error = {"destination.ip": inside, "source.ip": outside}
    connection = {"source.ip": inside, "destination.ip": outside}
    same = [
        *hit(catalog, "internal_error", 0, **error),
        *hit(catalog, "new_connection", 5, **connection),
    ]
    other = {"source.ip": outside, "destination.ip": "10.0.0.6"}  # the addresses the other way
    crossed = [
        *hit(catalog, "internal_error", 0, **{"destination.ip": "10.0.0.6", "source.ip": outside}),
        *hit(catalog, "new_connection", 5, **other),
    ]
    alerts = run(catalog, [*same, *crossed])
    assert fired(alerts) == [({"internal_ip": "10.0.0.5", "remote_ip": "203.0.113.9"}, 2.0)]


def test_generate_false_silences_the_referenced_rules_and_true_keeps_them() -> None:
    silent = load(corr("event_count", ["fail"], {"gte": 2}, name="quiet"), "fail", "other")
    assert silent.silent == {rule_id("fail")}
    loud = load(corr("event_count", ["fail"], {"gte": 2}, generate=True), "fail")
    assert loud.silent == frozenset()
    both = load(
        corr("event_count", ["fail"], {"gte": 2}, name="c1")
        + "---\n"
        + corr("value_count", ["fail"], {"gte": 2, "field": "user"}, name="c2", generate=True),
        "fail",
    )
    assert both.silent == frozenset()  # one correlation asks for the rule's own alerts


def test_a_correlation_feeds_the_correlations_that_reference_it() -> None:
    text = (
        corr("temporal_ordered", ["many_failures", "success"], group_by=["user"], timespan="10m",
             title="failures then success", name="outer")
        + "---\n"
        + corr("event_count", ["fail"], {"gte": 3}, group_by=["user"], timespan="10m",
               name="many_failures")
    )  # fmt: skip
    ruleset = load(text, "fail", "success")
    assert ruleset.errors == ()
    catalog = Correlations(ruleset.correlations)
    inner = next(c for c in catalog.all if c.name == "many_failures")
    outer = next(c for c in catalog.all if c.name == "outer")
    assert ruleset.silent == {rule_id("fail"), rule_id("success"), inner.id}
    attack = [m for i in range(3) for m in hit(catalog, "fail", i, n=i, user="root")]
    attack += hit(catalog, "success", 100, user="root")
    noise = [*hit(catalog, "fail", 0, user="bob"), *hit(catalog, "success", 100, user="bob")]
    alerts = run(catalog, [*attack, *noise])
    assert [a.rule_id for a in alerts] == [outer.id]  # the inner one is silent
    info = alerts[0].correlation
    assert info is not None and info.group == {"user": "root"}
    assert info.event_ids == ["ev-fail-0-0", "ev-fail-1-1", "ev-fail-2-2", "ev-success-100-0"]
    assert info.rule_ids == [inner.id, rule_id("success")]


@pytest.mark.parametrize("aliased", [False, True])
def test_a_chain_split_into_partitions_by_bus_key_raises_what_one_evaluator_does(
    aliased: bool,
) -> None:
    """Inner bursts grouped by (address, account), an outer count grouped by the address
    alone (under another name when ``aliased``): the matches are split as the bus splits
    them, by ``bus_key``, and every partition's evaluator together must raise exactly what
    one evaluator of all of them raises."""
    outer_by = "ip" if aliased else "src"
    aliases = {"ip": {"burst": "src", "login": "src"}} if aliased else None
    text = (
        corr("event_count", ["burst", "login"], {"gte": 4}, group_by=[outer_by],
             timespan="10m", name="spray", aliases=aliases)
        + "---\n"
        + corr("event_count", ["fail"], {"gte": 2}, group_by=["src", "user"], timespan="10m",
               name="burst")
    )  # fmt: skip
    catalog = correlations(text, "fail", "login")
    rng = random.Random(5)
    matches = []
    for i in range(300):
        src, user = f"10.0.0.{rng.randrange(3)}", f"u{rng.randrange(6)}"
        base = "login" if rng.random() < 0.1 else "fail"
        matches += hit(catalog, base, i * 7, n=i, src=src, user=user)
    whole = run(catalog, matches)
    assert sum(1 for a in whole if a.rule_title.startswith("event_count")) >= 3

    partitions: dict[int, list] = {}
    for match in matches:
        partitions.setdefault(zlib.crc32(match.bus_key.encode()) % 4, []).append(match)
    assert len(partitions) >= 2  # the three addresses did not all land in one
    split = [a for part in partitions.values() for a in run(catalog, part)]
    assert sorted(a.id for a in split) == sorted(a.id for a in whole)


def test_a_late_match_is_counted_and_logged_not_correlated(caplog: object) -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 2}), "fail")
    ev = evaluator(catalog, allowed_lateness_s=30)
    before = metric("soc_correlation_late_total", type="event_count")
    assert ev.feed(hit(catalog, "fail", 100, src="a")) == []
    assert ev.feed(hit(catalog, "fail", 75, src="a")) == []  # 25 s behind: in time
    assert ev.feed(hit(catalog, "fail", 69, src="a")) == []  # behind the watermark (70 s)
    assert metric("soc_correlation_late_total", type="event_count") == before + 1
    assert fired(ev.finish()) == [({"src": "a"}, 2.0)]


def test_arrival_order_within_the_lateness_does_not_change_the_alerts() -> None:
    text = (
        corr("event_count", ["fail"], {"gte": 3}, title="count")
        + "---\n"
        + corr("event_count", ["fail"], {"gt": 1, "lte": 4}, title="range")
        + "---\n"
        + corr("value_count", ["fail"], {"field": "user", "gte": 2}, title="spray")
        + "---\n"
        + corr("temporal_ordered", ["fail", "success"], title="ordered")
    )
    catalog = correlations(text, "fail", "success")
    rng = random.Random(7)
    matches = []
    for i in range(300):
        base = "success" if rng.random() < 0.1 else "fail"
        matches += hit(catalog, base, i * 7 + rng.random(), n=i, src=f"10.0.0.{rng.randrange(5)}",
                       user=rng.choice(["root", "admin", "pi"]))  # fmt: skip
    expected = run(catalog, matches)
    assert len(expected) > 10
    for seed in range(3):
        # shuffled within windows of 8 matches (at most ~56 s apart): inside the 60 s lateness
        shuffled = []
        for start in range(0, len(matches), 8):
            chunk = matches[start : start + 8]
            random.Random(seed).shuffle(chunk)
            shuffled += chunk
        assert run(catalog, shuffled) == expected


def test_a_match_for_a_correlation_no_longer_loaded_is_counted_and_skipped() -> None:
    old = correlations(corr("event_count", ["fail"], {"gte": 1}, title="old"), "fail")
    new = correlations(corr("event_count", ["fail"], {"gte": 1}, title="new"), "fail")
    before = metric("soc_correlation_matches_total", outcome="unknown_correlation")
    ev = evaluator(new)
    assert ev.feed(hit(old, "fail", 0, src="a")) == [] and ev.finish() == []
    assert metric("soc_correlation_matches_total", outcome="unknown_correlation") == before + 1


def test_the_same_matches_give_the_same_alert_ids_a_replay_raises_nothing_new() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 2}), "fail")
    matches = [m for i in range(6) for m in hit(catalog, "fail", i * 30, n=i, src="a")]
    first, again = run(catalog, matches), run(catalog, matches)
    assert [a.id for a in first] == [a.id for a in again] and len(first) == 2
    assert first[0].id == Alert.model_validate(first[0].model_dump()).id


def test_idle_flush_evaluates_pending_matches_without_a_next_event() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 2}), "fail")
    clock = Clock()
    ev = evaluator(catalog, clock, allowed_lateness_s=60, idle_flush_s=10)
    assert ev.feed([*hit(catalog, "fail", 0, src="a"), *hit(catalog, "fail", 1, src="a")]) == []
    clock.now += 9
    assert ev.tick() == []
    clock.now += 1
    assert fired(ev.tick()) == [({"src": "a"}, 2.0)]


def test_idle_flush_closes_windows_judged_at_their_end() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"lt": 5}, timespan="1m"), "fail")
    clock = Clock()
    ev = evaluator(catalog, clock, allowed_lateness_s=60, idle_flush_s=10)
    assert ev.feed(hit(catalog, "fail", 0, src="a")) == []
    clock.now += 30
    assert ev.tick() == []  # the window closes at 60 s of event time
    clock.now += 31
    assert fired(ev.tick()) == [({"src": "a"}, 1.0)]


def test_state_is_capped_and_evictions_are_counted() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 50}, timespan="1h"), "fail")
    ev = evaluator(
        catalog, allowed_lateness_s=0, max_groups=100, max_matches_per_group=10, max_pending=100
    )
    groups_before = metric("soc_correlation_evictions_total", kind="group")
    matches_before = metric("soc_correlation_evictions_total", kind="match")
    for i in range(5000):
        ev.feed(hit(catalog, "fail", i, n=i, src=f"10.{i // 250}.{i % 250}.1"))
        assert ev.groups <= 100
    for i in range(30):
        ev.feed(hit(catalog, "fail", 5000 + i, n=i, src="one"))
    assert max(len(g.window) for g in ev.snapshot().groups) == 10
    assert ev.finish() == []
    assert metric("soc_correlation_evictions_total", kind="group") - groups_before >= 4900
    assert metric("soc_correlation_evictions_total", kind="match") - matches_before == 20
    assert ev.groups == 0  # every window is over: nothing is kept


def test_too_many_pending_matches_are_evaluated_early_and_counted() -> None:
    catalog = correlations(corr("event_count", ["fail"], {"gte": 2}), "fail")
    ev = evaluator(catalog, allowed_lateness_s=3600, max_pending=10)
    before = metric("soc_correlation_evictions_total", kind="forced")
    alerts = []
    for i in range(40):
        alerts += ev.feed(hit(catalog, "fail", i, n=i, src=f"s{i % 2}"))
        assert ev.pending <= 10
    assert metric("soc_correlation_evictions_total", kind="forced") - before >= 30
    assert len(alerts) >= 2


def scenario() -> tuple[Correlations, list]:
    text = (
        corr("event_count", ["fail"], {"gte": 4}, timespan="5m", title="count")
        + "---\n"
        + corr("event_count", ["fail"], {"lt": 3}, timespan="2m", title="few")
        + "---\n"
        + corr("temporal_ordered", ["burst", "success"], timespan="10m", title="chain")
        + "---\n"
        + corr("event_count", ["fail"], {"gte": 3}, timespan="2m", name="burst")
    )
    catalog = correlations(text, "fail", "success")
    rng = random.Random(11)
    matches = []
    for i in range(400):
        base = "success" if rng.random() < 0.15 else "fail"
        matches += hit(catalog, base, i * 9, n=i, src=f"10.0.0.{rng.randrange(4)}")
    return catalog, matches


def test_restore_then_continue_gives_the_alerts_of_an_uninterrupted_run() -> None:
    catalog, matches = scenario()
    uninterrupted = run(catalog, matches)
    assert len(uninterrupted) > 5
    for cut in (1, 57, 200, 399):
        first = evaluator(catalog)
        alerts = []
        for match in matches[:cut]:
            alerts += first.feed([match])
        saved = Snapshot.model_validate_json(first.snapshot().model_dump_json())
        second = Evaluator.restore(catalog, saved, first.settings, clock=Clock(),
                                   now=lambda: uninterrupted[0].created)  # fmt: skip
        for match in matches[cut:]:
            alerts += second.feed([match])
        assert alerts + second.finish() == uninterrupted, cut


def test_incremental_changes_rebuild_the_same_state() -> None:
    catalog, matches = scenario()
    limits = CorrelationSettings(allowed_lateness_s=60)
    live = Evaluator(catalog, limits, clock=Clock(), now=lambda: T0, track_changes=True)
    replica: dict = {}
    tenants: dict = {}
    for start in range(0, len(matches), 37):
        live.feed(matches[start : start + 37])
        changes = live.changes()
        for key in changes.removed:
            replica.pop((key[0], key[1], key[2], tuple(key[3])), None)
        for group in changes.groups:
            replica[group.key] = group
        for tenant in changes.tenants:
            tenants[tenant.tenant] = tenant
    rebuilt = Snapshot(tenants=list(tenants.values()), groups=list(replica.values()))
    full = live.snapshot()
    assert sorted(g.model_dump_json() for g in rebuilt.groups) == sorted(
        g.model_dump_json() for g in full.groups
    )
    assert rebuilt.tenants == full.tenants
    restored = Evaluator.restore(catalog, rebuilt, live.settings, clock=Clock(),
                                 now=lambda: T0 + timedelta(hours=1))  # fmt: skip
    assert [a.id for a in restored.finish()] == [a.id for a in live.finish()]
    assert not restored.finish() and evaluator(catalog).feed(matches[:5]) == []
    with pytest.raises(RuntimeError, match="track_changes"):
        evaluator(catalog).changes()

"""Grouping real alerts: keys, the sliding window, repeats, replays and deterministic ids."""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from pydantic import ValidationError

from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.grouping import GroupingPolicy, GroupResult, group
from soc.incidents.models import Incident, IncidentStatus, ObservableType
from soc.models import Alert, Severity
from tests.unit.incidents.conftest import NOW, TENANT, Recording

HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)
POLICY = GroupingPolicy()


def run(
    rec: Recording,
    *,
    policy: GroupingPolicy = POLICY,
    open_incidents: list[Incident] | None = None,
) -> GroupResult:
    return group(
        rec.alerts, open_incidents=open_incidents or [], policy=policy, now=NOW, events=rec.by_id
    )


def shifted(alert: Alert, delta: timedelta, n: int) -> Alert:
    """A repeat of a real alert ``delta`` later (a new event, so a new id)."""
    return alert.model_copy(
        update={
            "id": f"{alert.id}-{n}",
            "event_id": f"{alert.event_id}-{n}",
            "time": alert.time + delta,
        }
    )


def test_otrf_attack_one_incident_per_rule_repeats_counted(otrf: Recording) -> None:
    result = run(otrf)
    per_rule = Counter(a.rule_id for a in otrf.alerts)
    assert len(otrf.alerts) == 14 and len(per_rule) == 11
    assert len(result.changed) == len(result.created) == 11
    assert {i.group_values["rule_id"]: i.alert_count for i in result.changed} == per_rule
    assert result.repeats == 14 - 11 and result.duplicates == 0
    for inc in result.changed:
        mine = [a for a in otrf.alerts if a.rule_id == inc.group_values["rule_id"]]
        assert inc.group_values["host"] == "mkt01.pandalab.com"
        assert inc.severity == max((a.severity for a in mine), key=lambda s: s.rank)
        assert inc.first_seen == min(a.time for a in mine)
        assert inc.last_seen == max(a.time for a in mine)
        assert sorted(inc.alert_ids) == sorted(a.id for a in mine)
        assert inc.title == f"{mine[0].rule_title} on MKT01.pandalab.com"
        assert set(inc.tags) == {t for a in mine for t in a.tags}
        assert inc.status is IncidentStatus.new and inc.created == NOW
    assert set(result.assigned) == {a.id for a in otrf.alerts}


def test_otrf_by_host_is_one_incident_with_the_attacks_observables(otrf: Recording) -> None:
    result = run(otrf, policy=GroupingPolicy(keys=("host",)))
    (inc,) = result.changed
    assert inc.alert_count == 14 and inc.severity is Severity.high
    opening = min(otrf.alerts, key=lambda a: (a.time, a.id))
    assert opening.rule_title == "Sysmon File Executable Creation Detected"
    assert inc.title == f"{opening.rule_title} on MKT01.pandalab.com", "named by its first alert"
    assert inc.id == Incident.make_id(
        tenant=TENANT, group_key=inc.group_key, first_alert_id=opening.id
    )
    obs = {(o.type, o.value) for o in inc.observables}
    assert {
        (ObservableType.ip, "10.0.5.13"),
        (ObservableType.url, "http://10.0.5.13/winx64_payload.exe"),
        (ObservableType.account, "PANDALAB\\stevie.marie"),
        (ObservableType.account, "PANDALAB\\pedro.gustavo"),
        (ObservableType.host, "mkt01.pandalab.com"),
    } <= obs
    assert len(obs) == len(inc.observables)


def test_ssh_brute_force_month_folds_into_sessions(authlog: Recording) -> None:
    result = run(authlog)
    distinct = {a.id: a for a in authlog.alerts}
    assert len(distinct) == 1323 and len(authlog.alerts) == 1328
    assert result.duplicates == 5, "lines the log repeats byte for byte count once"
    assert sum(i.alert_count for i in result.changed) == len(distinct)
    assert len(result.changed) < len(distinct) / 5, "repeats must not flood the queue"
    seen: set[str] = set()
    for inc in result.changed:
        assert not seen & set(inc.alert_ids)
        seen |= set(inc.alert_ids)
    assert seen == set(distinct)

    # The window's meaning: inside an incident no gap exceeds it; between two
    # incidents of one key the gap does.
    by_key: dict[str, list[Incident]] = defaultdict(list)
    for inc in result.changed:
        times = sorted(a.time for a in inc.alerts)
        assert all(b - a <= HOUR for a, b in itertools.pairwise(times))
        assert (inc.first_seen, inc.last_seen) == (times[0], times[-1])
        by_key[inc.group_key].append(inc)
    assert len(by_key) == 2  # SSH failures, sudo
    for incidents in by_key.values():
        incidents.sort(key=lambda i: i.first_seen)
        for a, b in itertools.pairwise(incidents):
            assert b.first_seen - a.last_seen > HOUR
    biggest = max(result.changed, key=lambda i: i.alert_count)
    assert biggest.alert_count > 100 and biggest.group_values["rule_id"] == (
        "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"
    )


def test_batches_replays_and_reorderings_give_the_same_incidents(authlog: Recording) -> None:
    whole = run(authlog)
    state: list[Incident] = []
    changed: dict[str, Incident] = {}
    alerts = authlog.alerts
    for start in range(0, len(alerts), 97):
        r = group(
            alerts[start : start + 97],
            open_incidents=state,
            policy=POLICY,
            now=NOW,
            events=authlog.by_id,
        )
        state = r.open
        changed.update((i.id, i) for i in r.changed)
    assert {i.id: i.alert_count for i in whole.changed} == {
        i.id: i.alert_count for i in changed.values()
    }

    replay = group(alerts, open_incidents=whole.open, policy=POLICY, now=NOW, events=authlog.by_id)
    assert replay.changed == [] and replay.created == []
    assert replay.duplicates == len(alerts)

    shuffled = list(alerts)
    random.Random(7).shuffle(shuffled)
    again = group(shuffled, open_incidents=[], policy=POLICY, now=NOW, events=authlog.by_id)
    assert [i.model_dump() for i in again.changed] == [i.model_dump() for i in whole.changed]


def test_the_window_boundary_is_inclusive(otrf: Recording) -> None:
    first = otrf.alerts[0]
    at_edge = shifted(first, HOUR, 1)
    r = group([first, at_edge], open_incidents=[], policy=POLICY, now=NOW)
    assert [i.alert_count for i in r.changed] == [2]
    past = shifted(first, HOUR + US, 2)
    r = group([first, past], open_incidents=[], policy=POLICY, now=NOW)
    assert [i.alert_count for i in r.changed] == [1, 1]
    # Each fold stretches the window: three alerts 50 minutes apart are one incident.
    chain = [first, *(shifted(first, n * timedelta(minutes=50), n) for n in (1, 2, 3))]
    r = group(chain, open_incidents=[], policy=POLICY, now=NOW)
    assert [i.alert_count for i in r.changed] == [4]


def test_a_late_alert_before_the_incident_folds_in_within_the_window(otrf: Recording) -> None:
    first = otrf.alerts[0]
    r1 = group([first], open_incidents=[], policy=POLICY, now=NOW)
    early = shifted(first, -HOUR, 1)
    r2 = group([early], open_incidents=r1.open, policy=POLICY, now=NOW)
    (inc,) = r2.changed
    assert inc.id == r1.changed[0].id and inc.first_seen == early.time
    too_early = shifted(first, -HOUR - US, 2)
    r3 = group([too_early], open_incidents=r1.open, policy=POLICY, now=NOW)
    assert r3.created == [r3.changed[0].id] and r3.changed[0].id != inc.id


@pytest.mark.parametrize(
    "status",
    [IncidentStatus.resolved, IncidentStatus.closed, IncidentStatus.closed_false_positive],
)
def test_resolved_and_closed_incidents_absorb_nothing(
    otrf: Recording, status: IncidentStatus
) -> None:
    first = otrf.alerts[0]
    (inc,) = group([first], open_incidents=[], policy=POLICY, now=NOW).changed
    done = inc.model_copy(update={"status": status})
    repeat = shifted(first, timedelta(minutes=1), 1)
    r = group([repeat], open_incidents=[done], policy=POLICY, now=NOW)
    assert r.created == [r.changed[0].id] and r.changed[0].id != inc.id
    assert r.repeats == 0 and done.alert_count == 1
    merged = inc.model_copy(update={"merged_into": "x"})
    assert group([repeat], open_incidents=[merged], policy=POLICY, now=NOW).repeats == 0


def test_the_state_given_is_not_modified(otrf: Recording) -> None:
    first = otrf.alerts[0]
    r1 = group([first], open_incidents=[], policy=POLICY, now=NOW)
    before = [i.model_dump() for i in r1.open]
    group([shifted(first, timedelta(minutes=1), 1)], open_incidents=r1.open, policy=POLICY, now=NOW)
    assert [i.model_dump() for i in r1.open] == before


def test_event_field_keys_split_by_attacker(authlog: Recording) -> None:
    policy = GroupingPolicy(keys=("rule_id", "event.src_ip"), window=timedelta(days=1))
    result = run(authlog, policy=policy)
    for inc in result.changed:
        ips = {authlog.event_of(a).fields.get("src_ip") for a in _alerts(authlog, inc)}
        assert ips == {inc.group_values["event.src_ip"]}
    ssh = [i for i in result.changed if (i.group_values["rule_id"] or "").startswith("7be5b1cc")]
    assert len({i.group_values["event.src_ip"] for i in ssh}) > 50


def _alerts(rec: Recording, inc: Incident) -> list[Alert]:
    ids = set(inc.alert_ids)
    return [a for a in rec.alerts if a.id in ids]


def test_ids_depend_on_tenant_and_key(otrf: Recording) -> None:
    ours = {i.id for i in run(otrf).changed}
    other = [a.model_copy(update={"tenant": "police-south"}) for a in otrf.alerts]
    theirs = group(other, open_incidents=[], policy=POLICY, now=NOW).changed
    assert not ours & {i.id for i in theirs}
    assert {i.tenant for i in theirs} == {"police-south"}
    by_host = {i.id for i in run(otrf, policy=GroupingPolicy(keys=("host",))).changed}
    assert not ours & by_host
    assert {i.tenant for i in run(otrf).changed} == {TENANT}


def test_host_compares_in_lower_case(otrf: Recording) -> None:
    first = otrf.alerts[0]
    upper = shifted(first, timedelta(minutes=1), 1).model_copy(
        update={"host": "MKT01.PANDALAB.COM"}
    )
    r = group([first, upper], open_incidents=[], policy=POLICY, now=NOW)
    assert [i.alert_count for i in r.changed] == [2]


def test_deadlines_are_set_and_tightened_when_severity_rises(otrf: Recording) -> None:
    first = next(a for a in otrf.alerts if a.severity is Severity.medium)
    r1 = group([first], open_incidents=[], policy=POLICY, now=NOW, deadlines=DeadlinePolicy())
    d1 = r1.changed[0].deadlines
    assert d1 is not None and d1.acknowledge_due == NOW + 4 * HOUR
    worse = shifted(first, timedelta(minutes=2), 1).model_copy(
        update={"severity": Severity.critical}
    )
    later = NOW + timedelta(minutes=30)
    r2 = group(
        [worse], open_incidents=r1.open, policy=POLICY, now=later, deadlines=DeadlinePolicy()
    )
    (inc,) = r2.changed
    assert inc.severity is Severity.critical and inc.updated == later
    assert inc.deadlines is not None
    assert inc.deadlines.acknowledge_due == later + timedelta(minutes=15)


def test_policy_refuses_unknown_keys_and_empty_windows() -> None:
    assert (
        GroupingPolicy(keys=("rule_id", "event.User", "logsource.product")).keys[1] == "event.User"
    )
    for bad in (
        {"keys": ()},
        {"keys": ("rule_id", "rule_id")},
        {"keys": ("hostname",)},
        {"keys": ("event.",)},
        {"window": 0},
        {"window": "-PT1H"},
    ):
        with pytest.raises(ValidationError):
            GroupingPolicy.model_validate(bad)
    assert GroupingPolicy.model_validate({"window": "PT30M"}).window == timedelta(minutes=30)

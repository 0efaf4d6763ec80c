"""Every shipped correlation is replayed over its recorded samples: parser, engine, evaluator.

soc/detections/samples/<correlation id>/positive.<ext> must raise the correlation,
negative.<ext> must not. A sample is a slice of a recording, byte for byte: ``.log``
files (auth.log, the Apache access log) go through soc.ingest.readers, which parses them
with the connector's parsers as ``soc hunt`` does; ``.ndjson`` files are recorded records
or connector envelopes. Every event is normalized, matched by the engine over the bundled
rules, and its base-rule matches are fed to the streaming evaluator, whose input then ends.

Correlations whose base rules are silent (``generate``) are evaluated with every
correlation made to generate, so that a correlation used only as another one's stage is
checked too.

Two correlations have no recorded positive (soc/detections/samples/README.md): the
recordings hold no Windows 4625 event and no 401, and only two 403s (on no login path), in
the Apache log. They ship their recorded negative; their logic is tested below with
base-rule matches made by the test (SYNTHETIC, labelled so), never with invented log lines.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.correlation.model import Correlation
from soc.detect.engine import Engine
from soc.detect.rule import RuleSet
from soc.detect.rules import load_rules
from soc.ingest.ndjson import object_event
from soc.ingest.readers import read_file
from soc.models import Alert, Event

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "soc/detections/rules"
SAMPLES = ROOT / "soc/detections/samples"
PIPELINES = [
    ROOT / "soc/detections/pipelines/windows.yml",
    ROOT / "soc/detections/pipelines/placeholders.yml",
]
RECEIVED = datetime(2026, 12, 5, tzinfo=UTC)
RULESET: RuleSet = load_rules([RULES], pipelines=PIPELINES)
ENGINE = Engine.from_ruleset(RULESET)
EVERY_ONE_GENERATING = Correlations(
    dataclasses.replace(c, generate=True) for c in RULESET.correlations
)

WINDOWS_SPREAD = "6fc4b42b-a2f4-419d-934b-44971be453a6"
WINDOWS_FAILED_LOGON = "655ba780-9003-4039-9e81-75464ca89486"
WEB_BRUTE_FORCE = "505f405a-79f0-48ff-ba6c-eb67314274b5"
WEB_LOGIN_REFUSED = "f68f5897-4cca-4410-a6bb-3615b94fed1c"
NO_RECORDED_POSITIVE = {
    WINDOWS_SPREAD: "no Windows 4625 event in the recordings (OTRF campaigns 01 and 06)",
    WEB_BRUTE_FORCE: "no 401, and no 403 on a login path, in the recorded Apache log",
}


def sample(correlation_id: str, kind: str) -> Path | None:
    found = sorted((SAMPLES / correlation_id).glob(f"{kind}.*"))
    assert len(found) <= 1, found
    return found[0] if found else None


def replay(path: Path) -> tuple[list[Event], list[Alert]]:
    """The events of a sample file and the correlation alerts they raise."""
    events: list[Event] = []
    for item in read_file(path):
        assert item.record is not None, f"{item.source}#{item.position}: {item.error}"
        events.append(
            object_event(item.record, tenant="samples", source=path.name, received=RECEIVED)
        )
    assert events, f"{path} is empty"
    evaluator = Evaluator(EVERY_ONE_GENERATING)
    alerts: list[Alert] = []
    for event in events:
        rule_ids = [rule.id for rule in ENGINE.match(event)]
        alerts += evaluator.feed(EVERY_ONE_GENERATING.matches_of_rules(rule_ids, event))
    return events, alerts + evaluator.finish()


def test_every_correlation_has_its_samples_or_a_stated_gap() -> None:
    assert RULESET.errors == ()
    ids = {c.id for c in RULESET.correlations}
    assert len(ids) == 6
    for correlation_id in ids:
        assert sample(correlation_id, "negative") is not None, correlation_id
        positive = sample(correlation_id, "positive")
        assert (positive is None) == (correlation_id in NO_RECORDED_POSITIVE), correlation_id


@pytest.mark.parametrize("correlation", RULESET.correlations, ids=lambda c: c.title)
def test_positive_raises_the_correlation_and_negative_does_not(
    correlation: Correlation,
) -> None:
    positive = sample(correlation.id, "positive")
    if positive is not None:
        _, alerts = replay(positive)
        assert correlation.id in {a.rule_id for a in alerts}, positive
    negative = sample(correlation.id, "negative")
    assert negative is not None
    events, alerts = replay(negative)
    assert correlation.id not in {a.rule_id for a in alerts}, negative
    # The negative is of the correlation's own source: its base rules' logsource sees it.
    bases = set(correlation.rules)
    sources = {(r.logsource.product, r.logsource.service) for r in RULESET.rules if r.id in bases}
    sources |= {
        (r.logsource.product, r.logsource.service)
        for c in RULESET.correlations
        if c.id in bases
        for r in RULESET.rules
        if r.id in c.rules
    }
    assert sources & {(e.logsource.product, e.logsource.service) for e in events}


def test_the_ssh_positives_group_the_recorded_attackers() -> None:
    """What each SSH positive raises, and for which address (checked by hand in the slices)."""
    found = {}
    for name in ("cebc8bb7", "cde4dc9f", "13c4d967"):
        (folder,) = SAMPLES.glob(f"{name}-*")
        _, alerts = replay(folder / "positive.log")
        found[name] = sorted(
            (a.rule_title, json.dumps(a.correlation.group), a.correlation.value)
            for a in alerts
            if a.correlation and a.rule_id == folder.name
        )
    assert found["cebc8bb7"] == [
        ("SSH Brute Force From One Address", '{"src_ip": "24.151.103.17"}', 10)
    ]
    assert found["cde4dc9f"] == [
        ("SSH Password Spraying From One Address", '{"src_ip": "91.197.232.109"}', 5)
    ]
    assert found["13c4d967"] == [
        (
            "SSH Login After Password Guessing From The Same Address",
            '{"src_ip": "24.151.103.17"}',
            2,
        )
    ]


# --- SYNTHETIC base-rule matches: no recorded positive exists (see the module docstring) ---


def _feed(
    correlation_id: str, rule_id: str, fieldsets: list[tuple[int, dict[str, Any]]]
) -> list[Alert]:
    """SYNTHETIC: base-rule matches made here (the engine is bypassed), at the given seconds."""
    catalog = Correlations(c for c in RULESET.correlations if c.id == correlation_id)
    evaluator = Evaluator(catalog)
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    alerts: list[Alert] = []
    for n, (second, fields) in enumerate(fieldsets):
        alerts += evaluator.feed(
            catalog.matches(
                rule_id,
                fields,
                tenant="synthetic",
                time=start + timedelta(seconds=second),
                alert_id=f"synthetic-{n}",
                event_ids=(f"synthetic-event-{n}",),
            )
        )
    return alerts + evaluator.finish()


def _recorded_logon() -> dict[str, Any]:
    """The field shape of a recorded Security logon event (OTRF campaign 01's 4624)."""
    path = SAMPLES / WINDOWS_FAILED_LOGON / "negative.ndjson"
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    return dict(next(r for r in records if r["EventID"] == 4624))


def test_synthetic_failed_logons_on_five_hosts_in_fifteen_minutes_fire_four_do_not() -> None:
    shape = _recorded_logon()
    assert {"IpAddress", "TargetUserName", "LogonType"} <= shape.keys()

    def failure(host: int, address: str = "10.20.0.7") -> dict[str, Any]:
        return {**shape, "EventID": 4625, "IpAddress": address, "Computer": f"HOST{host}"}

    five = [(i * 60, failure(i)) for i in range(5)]
    (alert,) = _feed(WINDOWS_SPREAD, WINDOWS_FAILED_LOGON, five)
    assert alert.correlation is not None
    assert alert.correlation.group == {"IpAddress": "10.20.0.7"} and alert.correlation.value == 5
    # four hosts, however many failures; five hosts over more than fifteen minutes; two sources
    assert (
        _feed(WINDOWS_SPREAD, WINDOWS_FAILED_LOGON, [(i, failure(i % 4)) for i in range(40)]) == []
    )
    assert (
        _feed(WINDOWS_SPREAD, WINDOWS_FAILED_LOGON, [(i * 240, failure(i)) for i in range(5)]) == []
    )
    split = [(i, failure(i, "10.20.0.7" if i % 2 else "10.20.0.8")) for i in range(8)]
    assert _feed(WINDOWS_SPREAD, WINDOWS_FAILED_LOGON, split) == []
    # no Computer field (an OTRF-shaped event names its host in Hostname): not counted
    bare = [(i, {k: v for k, v in failure(i).items() if k != "Computer"}) for i in range(6)]
    assert _feed(WINDOWS_SPREAD, WINDOWS_FAILED_LOGON, bare) == []


def _recorded_login_probe() -> dict[str, Any]:
    """The fields the access-log parser gives a recorded /wp-login.php request (a 404)."""
    for line in (SAMPLES / WEB_LOGIN_REFUSED / "negative.ndjson").read_bytes().splitlines():
        envelope = json.loads(line)
        if envelope["record"]["cs-uri-stem"] == "/wp-login.php":
            return dict(envelope["record"])
    raise AssertionError("no recorded /wp-login.php request")


def test_synthetic_twenty_refused_logins_in_five_minutes_fire_nineteen_do_not() -> None:
    shape = _recorded_login_probe()
    refused = {**shape, "sc-status": 401}
    (alert,) = _feed(WEB_BRUTE_FORCE, WEB_LOGIN_REFUSED, [(i * 15, refused) for i in range(20)])
    assert alert.correlation is not None
    assert alert.correlation.group == {"c-ip": shape["c-ip"]} and alert.correlation.value == 20
    assert _feed(WEB_BRUTE_FORCE, WEB_LOGIN_REFUSED, [(i * 15, refused) for i in range(19)]) == []
    assert _feed(WEB_BRUTE_FORCE, WEB_LOGIN_REFUSED, [(i * 16, refused) for i in range(20)]) == []


def test_the_base_rules_of_the_gaps_fire_on_the_shapes_used_above() -> None:
    """SYNTHETIC: the engine does raise the base rules on the shapes the matches stand for."""
    logon = {**_recorded_logon(), "EventID": 4625, "IpAddress": "10.20.0.7"}
    probe = {"record": {**_recorded_login_probe(), "sc-status": 401}}
    probe["logsource"] = {"category": "webserver"}
    for obj, rule_id in ((logon, WINDOWS_FAILED_LOGON), (probe, WEB_LOGIN_REFUSED)):
        event = object_event(obj, tenant="synthetic", source="synthetic", received=RECEIVED)
        assert rule_id in {r.id for r in ENGINE.match(event)}
    local = {**_recorded_logon(), "EventID": 4625, "IpAddress": "-"}
    event = object_event(local, tenant="synthetic", source="synthetic", received=RECEIVED)
    assert WINDOWS_FAILED_LOGON not in {r.id for r in ENGINE.match(event)}

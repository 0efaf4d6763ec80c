"""Every curated rule carries a positive and a negative sample; both are replayed here.

soc/detections/samples/<rule id>/positive.ndjson must fire the rule on every line,
negative.ndjson must never fire it; each line goes through the ingest path's
envelope and normalization and the engine with the project's pipelines, as in
the streaming detector. See soc/detections/samples/README.md for where each sample
comes from.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from soc.detect.engine import Engine
from soc.detect.rule import RuleSet
from soc.detect.rules import load_rules
from soc.ingest.ndjson import as_event_in
from soc.ingest.normalize import normalize
from soc.models import Event

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "soc/detections/rules"
SAMPLES = ROOT / "soc/detections/samples"
PIPELINES = [
    ROOT / "soc/detections/pipelines/windows.yml",
    ROOT / "soc/detections/pipelines/placeholders.yml",
]
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
RULESET: RuleSet = load_rules([RULES], pipelines=PIPELINES)
ENGINE = Engine.from_ruleset(RULESET)


def events(path: Path) -> list[Event]:
    out = []
    for line in path.read_bytes().splitlines():
        envelope = as_event_in(json.loads(line))
        out.append(
            normalize(
                envelope.record,
                tenant="samples",
                source=envelope.source or path.name,
                received=RECEIVED,
                host=envelope.host,
                time=envelope.time,
                logsource=envelope.logsource,
            )
        )
    assert out, f"{path} is empty"
    return out


NO_RECORDED_POSITIVE = {
    "655ba780-9003-4039-9e81-75464ca89486": "no Windows 4625 event in the recordings",
    "f68f5897-4cca-4410-a6bb-3615b94fed1c": "no 401 or 403 on a login path in the Apache log",
}
"""Base rules of correlations whose positive is not recorded (see the samples' README)."""


def test_every_rule_has_both_samples_and_no_sample_is_orphaned() -> None:
    assert RULESET.errors == ()
    ids = {rule.id for rule in RULESET.rules}
    correlations = {
        c.id for c in RULESET.correlations
    }  # tests/detections/test_correlation_samples.py
    folders = {p.name for p in SAMPLES.iterdir() if p.is_dir()}
    assert folders == ids | correlations
    for rule_id in ids:
        positive = (SAMPLES / rule_id / "positive.ndjson").is_file()
        assert positive != (rule_id in NO_RECORDED_POSITIVE), rule_id
        assert (SAMPLES / rule_id / "negative.ndjson").is_file(), rule_id


@pytest.mark.parametrize("rule", RULESET.rules, ids=lambda r: r.title)
def test_positive_fires_and_negative_does_not(rule: object) -> None:
    rule_id = rule.id  # type: ignore[attr-defined]
    if rule_id not in NO_RECORDED_POSITIVE:
        for event in events(SAMPLES / rule_id / "positive.ndjson"):
            assert rule_id in {r.id for r in ENGINE.match(event)}, f"positive: {event.raw}"
    for event in events(SAMPLES / rule_id / "negative.ndjson"):
        assert rule_id not in {r.id for r in ENGINE.match(event)}, f"negative: {event.raw}"

"""SSH brute force in the real recorded auth.log: parser, engine, then the correlation evaluator.

The shipped rule "SSH Password Authentication Failure" fires on every failure; the
correlation counts them per source address. The recording (elastic/examples, 2017)
holds attacks from several addresses, and the admin's address, whose key logins come with
a few mistyped passwords spread over days: failures, but no correlation.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.parse import Defaults, parse
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.engine import Engine
from soc.detect.rules import load_rules
from soc.hunt.files import HuntCorrelation, HuntMatch, hunt
from soc.ingest.normalize import normalize
from soc.models import Alert, Event
from soc.settings import CorrelationSettings

ROOT = Path(__file__).resolve().parents[3]
SSH_FAILURE = "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"
NOW = datetime(2017, 12, 31, tzinfo=UTC)
ATTACKER = "24.151.103.17"
"""147 password failures for one account."""
SPRAYER = "91.197.232.109"
"""Tries two dozen account names ("0", "0000", "admin", "user", ...)."""
ADMIN = "85.245.107.41"
"""The host's admin: 35 key logins as ubuntu and 13 scattered password failures."""

BRUTE_FORCE = f"""title: SSH brute force from one address
id: 3f0ad8a5-5b3e-4cb1-9a53-2f1a3c8f1a10
level: high
correlation:
    type: event_count
    rules:
        - {SSH_FAILURE}
    group-by:
        - src_ip
    timespan: 10m
    condition:
        gte: 20
---
title: Many accounts tried from one address
id: 0c3d3c1e-44b3-4b0a-8f8e-4d8b3f0f6b21
level: high
correlation:
    type: value_count
    rules:
        - {SSH_FAILURE}
    group-by:
        - src_ip
    timespan: 1h
    condition:
        field: user
        gte: 5
"""


@pytest.fixture(scope="module")
def events(shared_dir: Path) -> list[Event]:
    data = (shared_dir / "datasets/linux/auth.log").read_bytes()
    out = []
    for envelope in parse(data, format="auth", defaults=Defaults(now=NOW)):
        out.append(
            normalize(
                envelope.record,
                tenant="hue-ioc",
                source="auth.log",
                received=NOW,
                host=envelope.host,
                time=envelope.time,
                logsource=envelope.logsource,
            )
        )
    return out


def test_brute_force_fires_for_the_attacking_address_not_for_the_admin(
    events: list[Event], tmp_path: Path
) -> None:
    (tmp_path / "mr_ssh.yml").write_text(BRUTE_FORCE)
    ruleset = load_rules(
        [ROOT / "soc/detections/rules/linux/sshd/lnx_sshd_password_failure.yml", tmp_path]
    )
    assert ruleset.errors == ()
    assert len(ruleset.correlations) == 2
    assert ruleset.silent == {SSH_FAILURE}
    engine = Engine.from_ruleset(ruleset)
    catalog = Correlations(ruleset.correlations)
    evaluator = Evaluator(catalog, CorrelationSettings(allowed_lateness_s=5))
    alerts: list[Alert] = []
    failures: Counter[str] = Counter()
    for event in events:
        rule_ids = [rule.id for rule in engine.match(event)]
        if SSH_FAILURE in rule_ids:
            failures[str(event.fields.get("src_ip"))] += 1
        alerts += evaluator.feed(catalog.matches_of_rules(rule_ids, event))
    alerts += evaluator.finish()
    assert failures[ATTACKER] >= 150 and failures[ADMIN] >= 10
    by_source = Counter(
        (a.rule_title, a.correlation.group["src_ip"]) for a in alerts if a.correlation
    )
    assert by_source[("SSH brute force from one address", ATTACKER)] >= 1
    assert by_source[("SSH brute force from one address", SPRAYER)] >= 1
    sprays = {key[1] for key in by_source if key[0] == "Many accounts tried from one address"}
    assert sprays == {SPRAYER}
    assert not [key for key in by_source if key[1] == ADMIN]
    first = next(a for a in alerts if a.correlation and a.correlation.group["src_ip"] == ATTACKER)
    assert first.correlation is not None and len(first.correlation.event_ids) >= 5
    stored = {e.id: e for e in events}
    assert all(stored[i].fields.get("src_ip") == ATTACKER for i in first.correlation.event_ids)


def test_soc_hunt_over_files_prints_the_correlations_with_their_window_and_events(
    shared_dir: Path, tmp_path: Path
) -> None:
    """`soc hunt`'s body over the recording (as the connector's NDJSON envelopes)."""
    data = (shared_dir / "datasets/linux/auth.log").read_bytes()
    lines = [
        e.model_dump_json(exclude_none=True)
        for e in parse(data, format="auth", defaults=Defaults(now=NOW))
    ]
    (tmp_path / "auth.ndjson").write_text("\n".join(lines) + "\n")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/mr_ssh.yml").write_text(BRUTE_FORCE)
    ruleset = load_rules(
        [ROOT / "soc/detections/rules/linux/sshd/lnx_sshd_password_failure.yml", tmp_path / "rules"]
    )
    found: list[HuntMatch | HuntCorrelation] = []
    summary = hunt(
        [tmp_path / "auth.ndjson"], engine=Engine.from_ruleset(ruleset), on_match=found.append
    )
    assert summary.events == len(lines) and summary.unreadable == 0
    assert summary.correlations_loaded == 2
    correlations = [m for m in found if isinstance(m, HuntCorrelation)]
    assert summary.correlation_matches == len(correlations) > 0
    assert not [m for m in found if isinstance(m, HuntMatch) and m.rule_id == SSH_FAILURE]
    spray = next(
        m for m in correlations if m.group == {"src_ip": SPRAYER} and m.type == "value_count"
    )
    assert spray.value >= 5 and spray.window_start < spray.window_end
    assert len(spray.event_ids) >= spray.value
    line = json.loads(spray.model_dump_json())
    assert {"rule_id", "group", "window_start", "window_end", "event_ids"} <= line.keys()

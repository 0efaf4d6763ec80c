"""The recorded SSH attack in auth.log, a test correlation over it, and its expected alerts.

Shared by the correlation stage's tests on the in-process bus (tests/unit) and on Kafka
(tests/e2e). The correlations are the tests' own; the city's official ones live in
soc/detections.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.parse import Defaults, parse
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.engine import Engine
from soc.detect.rules import load_rules
from soc.ingest.normalize import normalize
from soc.models import Alert, Event
from soc.settings import CorrelationSettings
from soc.stages.detect import match_events

ROOT = Path(__file__).resolve().parents[1]
LINUX_RULES = ROOT / "soc/detections/rules/linux"
SSH_FAILURE = "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"
"""The shipped "SSH Password Authentication Failure" rule."""
NOW = datetime(2017, 12, 31, tzinfo=UTC)
TENANT = "hue-ioc"
ATTACKER = "24.151.103.17"
"""Over a hundred password failures for one account, in bursts."""
BRUTE_FORCE_ID = "6f1d0f6e-9a43-4e55-bb53-5b1b8ad0c2a1"
BRUTE_FORCE = f"""title: Test SSH brute force per source address
id: {BRUTE_FORCE_ID}
level: high
correlation:
    type: event_count
    rules:
        - {SSH_FAILURE}
    group-by:
        - src_ip
    timespan: 10m
    condition:
        gte: 10
"""
SLOW_GUESSING_ID = "0b7f3c55-1c0e-4b8e-9d43-7d0f4c1f7e02"
SLOW_GUESSING = f"""title: Test slow password guessing per source address
id: {SLOW_GUESSING_ID}
level: medium
correlation:
    type: event_count
    rules:
        - {SSH_FAILURE}
    group-by:
        - src_ip
    timespan: 6h
    condition:
        gte: 25
"""
"""Six-hour windows: open across a stage's kill or rebalance whenever it lands."""


def auth_events(shared_dir: Path) -> list[Event]:
    """The recorded auth.log (elastic/examples, 2017) parsed as the connector parses it."""
    data = (shared_dir / "datasets/linux/auth.log").read_bytes()
    return [
        normalize(
            e.record,
            tenant=TENANT,
            source="auth.log",
            received=NOW,
            host=e.host,
            time=e.time,
            logsource=e.logsource,
        )
        for e in parse(data, format="auth", defaults=Defaults(now=NOW))
    ]


def engine_with(folder: Path, *correlations: str) -> Engine:
    """The shipped linux rules plus ``correlations``, written to ``folder``."""
    (folder / "correlations.yml").write_text("\n---\n".join(correlations))
    ruleset = load_rules([LINUX_RULES, folder])
    assert ruleset.errors == ()
    assert SSH_FAILURE in ruleset.silent
    return Engine.from_ruleset(ruleset)


def matches_of(engine: Engine, events: list[Event]) -> list[CorrelationMatch]:
    """What the detector publishes to the matches topic for ``events``, in their order."""
    catalog = Correlations(engine.correlations)
    return [m for e in events for r in engine.match(e) for m in match_events(catalog, r.id, e)]


def one_pass(
    engine: Engine, matches: list[CorrelationMatch], settings: CorrelationSettings
) -> dict[str, Alert]:
    """The correlation alerts of the whole stream in one evaluator, as `soc hunt` finds them."""
    evaluator = Evaluator(Correlations(engine.correlations), settings)
    alerts = evaluator.feed(matches) + evaluator.finish()
    return {a.id: a for a in alerts}


def comparable(alert: Alert) -> dict[str, Any]:
    """An alert without what depends on when and where it was handled."""
    return alert.model_dump(mode="json", exclude={"created", "incident_id", "suppressed_by"})

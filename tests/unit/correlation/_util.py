"""Correlation rules from YAML (through the real loader) and base-rule matches built directly.

Base matches in these tests are matches, not logs: what a detector hands the evaluator
after a rule fired. The recorded-log test is test_correlation_auth_log.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.rule import RuleSet
from soc.detect.rules import load_rule_text
from soc.models import Alert
from soc.settings import CorrelationSettings

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
CREATED = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
TENANT = "hue-ioc"


def rule_id(name: str) -> str:
    """A stable id for the base rule called ``name``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"soc-test-rule/{name}"))


def base_rule(name: str) -> str:
    return f"""title: Base rule {name}
id: {rule_id(name)}
name: {name}
logsource:
    product: test
detection:
    selection:
        kind: {name}
    condition: selection
"""


def load(correlations: str, *bases: str, name: str = "rules.yml") -> RuleSet:
    """Base rules ``bases`` plus the correlation documents, loaded as one file."""
    text = "\n---\n".join([*(base_rule(b) for b in bases), correlations])
    return load_rule_text(text, name=name)


def correlations(text: str, *bases: str) -> Correlations:
    ruleset = load(text, *bases)
    assert ruleset.errors == (), ruleset.errors
    return Correlations(ruleset.correlations)


class Clock:
    """Wall clock for the idle flush, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def evaluator(catalog: Correlations, clock: Clock | None = None, **limits: Any) -> Evaluator:
    settings = CorrelationSettings(**{"allowed_lateness_s": 60.0, **limits})
    return Evaluator(catalog, settings, clock=clock or Clock(), now=lambda: CREATED)


def hit(
    catalog: Correlations,
    base: str,
    seconds: float,
    *,
    n: int | str = 0,
    tenant: str = TENANT,
    **fields: Any,
) -> list[CorrelationMatch]:
    """The matches base rule ``base`` firing at T0 + ``seconds`` on an event of ``fields``."""
    event_id = f"ev-{base}-{seconds}-{n}"
    return catalog.matches(
        rule_id(base),
        fields,
        tenant=tenant,
        time=T0 + timedelta(seconds=seconds),
        alert_id=Alert.make_id(rule_id=rule_id(base), event_id=event_id),
        event_ids=(event_id,),
        host="web-01",
    )


def run(catalog: Correlations, matches: Iterable[CorrelationMatch], **limits: Any) -> list[Alert]:
    """Feed every match one by one, then end the input: every alert raised."""
    ev = evaluator(catalog, **limits)
    alerts: list[Alert] = []
    for match in matches:
        alerts += ev.feed([match])
    return alerts + ev.finish()


def fired(alerts: Sequence[Alert]) -> list[tuple[dict[str, str], float]]:
    """(group, value) of each correlation alert, in order."""
    return [(a.correlation.group, a.correlation.value) for a in alerts if a.correlation]


def corr(
    kind: str,
    rules: Sequence[str],
    condition: dict[str, Any] | None = None,
    *,
    group_by: Sequence[str] = ("src",),
    timespan: str = "1m",
    name: str | None = None,
    title: str | None = None,
    generate: bool | None = None,
    aliases: dict[str, dict[str, str]] | None = None,
    level: str = "high",
) -> str:
    """One correlation document as YAML."""
    import yaml

    section: dict[str, Any] = {"type": kind, "rules": list(rules), "timespan": timespan}
    if group_by:
        section["group-by"] = list(group_by)
    if condition is not None:
        section["condition"] = condition
    if generate is not None:
        section["generate"] = generate
    if aliases is not None:
        section["aliases"] = aliases
    doc: dict[str, Any] = {
        "title": title or f"{kind} over {', '.join(rules)}",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"soc-test-corr/{name or title or kind}")),
        "level": level,
        "correlation": section,
    }
    if name:
        doc["name"] = name
    return yaml.safe_dump(doc, sort_keys=False)

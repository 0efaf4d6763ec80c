"""A compiled Sigma rule and a set of them: what the engine runs and what an alert names.

    rule = Rule(id=..., title=..., matches=closure, condition=ir_node, ...)
    alert = make_alert(rule, event)       # the detector's alert, and `soc hunt`'s
    ruleset.filters_for(rule.id, "tenant")  # the Sigma filters tuning it (soc.detect.filter)

Loading is in :mod:`soc.detect.rules` (pySigma) and :mod:`soc.detect.cache`
(the compiled form on disk); both make these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from soc.detect.correlation.model import Correlation, silent_ids
from soc.detect.filter import Filter
from soc.detect.ir import Node
from soc.detect.view import EventView
from soc.errors import RuleError
from soc.models import Alert, Event, LogSource, Severity, drill_of, utcnow


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One compiled Sigma rule: what an alert needs to know of it, and its matcher."""

    id: str
    """The rule's id; if it has none, a stable hash of its path relative to the folder loaded."""
    title: str
    level: Severity
    tags: list[str]
    """E.g. ``attack.t1003.001``, ``attack.credential-access``."""
    version: str | None
    """The rule's ``modified``, else its ``date`` (ISO 8601), else None."""
    path: Path
    logsource: LogSource
    author: str | None
    """Who wrote the rule. SigmaHQ's rules (DRL 1.1) require alerts to name them."""
    matches: Callable[[EventView], bool]
    condition: Node | None = None
    """The condition as data (soc.detect.ir), which the engine's candidate index reads."""
    name: str | None = None
    """The rule's ``name:`` (Sigma v2), by which filters and correlations may refer to it."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules that compiled, and one error for each rule, filter or file that did not."""

    rules: tuple[Rule, ...]
    errors: tuple[RuleError, ...]
    filters: tuple[Filter, ...] = ()
    """The Sigma filters loaded beside the rules, each tied to the rules it applies to."""
    correlations: tuple[Correlation, ...] = ()
    """The Sigma correlation rules that compiled, their references resolved."""

    def filters_for(self, rule_id: str, tenant: str | None = None) -> tuple[Filter, ...]:
        """The filters that apply to the rule (for ``tenant``'s events; None: any tenant's)."""
        return filters_for(self.filters, rule_id, tenant)

    @property
    def silent(self) -> frozenset[str]:
        """Rule and correlation ids that raise no alert of their own (``generate``).

        Referenced by correlations none of which sets ``generate: true``: their matches
        feed the correlations only (soc.detect.correlation.catalog explains the choice).
        """
        return silent_ids(self.correlations)


def filters_for(
    filters: Iterable[Filter], rule_id: str, tenant: str | None = None
) -> tuple[Filter, ...]:
    """Those of ``filters`` that apply to the rule, and to ``tenant`` unless it is None."""
    return tuple(
        f for f in filters if rule_id in f.rule_ids and (tenant is None or f.applies_to(tenant))
    )


def make_alert(rule: Rule, event: Event) -> Alert:
    """The alert ``rule`` raises on ``event``; its id is the same wherever and whenever made."""
    return Alert(
        id=Alert.make_id(rule_id=rule.id, event_id=event.id),
        tenant=event.tenant,
        rule_id=rule.id,
        rule_title=rule.title,
        rule_version=rule.version,
        rule_author=rule.author,
        severity=rule.level,
        tags=list(rule.tags),
        event_id=event.id,
        time=event.time,
        created=utcnow(),
        host=event.host,
        source=event.source,
        logsource=event.logsource,
        drill=drill_of(event.origin),
    )

"""A compiled Sigma rule and a set of them: what the engine runs and what an alert names.

    rule = Rule(id=..., title=..., matches=closure, condition=ir_node, ...)
    alert = make_alert(rule, event)       # the detector's alert, and `soc hunt`'s

Loading is in :mod:`soc.detect.rules` (pySigma) and :mod:`soc.detect.cache`
(the compiled form on disk); both make these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from soc.detect.ir import Node
from soc.detect.view import EventView
from soc.errors import RuleError
from soc.models import Alert, Event, LogSource, Severity, utcnow


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


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules that compiled, and one error for each rule or file that did not."""

    rules: tuple[Rule, ...]
    errors: tuple[RuleError, ...]


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
    )

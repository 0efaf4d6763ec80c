"""Which rules fire on an event: route by logsource, then run only those rules' matchers.

    Engine(rules).match(event) -> [Rule, ...]     (in the order the rules were given)

Routing: a rule applies to an event when each logsource part the rule sets
(product, category, service) equals the event's, case-insensitively; a part the
rule leaves out matches anything, so a ``windows/process_creation`` rule applies
to Sysmon EventID 1 (``windows/process_creation/sysmon``) and to Security 4688
events alike, but a Sysmon-only rule never to a Security event. Sigma's taxonomy
has one generic category over specific ones: a ``registry_event`` rule also
applies to events of category registry_add, registry_delete, registry_set and
registry_rename.

The rules that apply to a logsource triple are worked out once per distinct
triple (from an index of the rules' own triples, not rule by rule) and cached,
so per event the engine looks only at the rules that can fire. The event's
fields are then wrapped once in an EventView shared by those rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from soc.detect.rules import Rule, RuleSet
from soc.detect.view import EventView
from soc.errors import RuleError
from soc.models import Event, LogSource

_Key = tuple[str | None, str | None, str | None]

CATEGORY_PARENTS: dict[str, str] = {
    "registry_add": "registry_event",
    "registry_delete": "registry_event",
    "registry_set": "registry_event",
    "registry_rename": "registry_event",
}
"""A specific category -> the generic one whose rules also apply to it."""

_MAX_ROUTES = 4096
"""Distinct logsource triples cached; then the cache starts over (triples come from input)."""


def _norm(part: str | None) -> str | None:
    return part.lower() if part else None


class Engine:
    """Matches events against compiled rules, looking only at the rules their logsource allows."""

    def __init__(self, rules: Sequence[Rule], *, errors: Sequence[RuleError] = ()) -> None:
        self._rules = tuple(rules)
        self._errors = tuple(errors)
        self._index: dict[_Key, list[int]] = {}
        for position, rule in enumerate(self._rules):
            ls = rule.logsource
            key = (_norm(ls.product), _norm(ls.category), _norm(ls.service))
            self._index.setdefault(key, []).append(position)
        self._routes: dict[_Key, tuple[Rule, ...]] = {}

    @classmethod
    def from_ruleset(cls, ruleset: RuleSet) -> Engine:
        """An engine over the rules that loaded, keeping the load errors for reporting."""
        return cls(ruleset.rules, errors=ruleset.errors)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in matching order."""
        return self._rules

    @property
    def errors(self) -> tuple[RuleError, ...]:
        """The rules that could not be loaded, when built with :meth:`from_ruleset`."""
        return self._errors

    def rules_for(self, logsource: LogSource) -> tuple[Rule, ...]:
        """The rules that apply to events of this logsource, in matching order."""
        key = (logsource.product, logsource.category, logsource.service)
        try:
            return self._routes[key]
        except KeyError:
            pass
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()
        routed = self._route(key)
        self._routes[key] = routed
        return routed

    def match(self, event: Event) -> list[Rule]:
        """The rules that fire on the event, in matching order."""
        candidates = self.rules_for(event.logsource)
        if not candidates:
            return []
        view = EventView(event.fields)
        return [rule for rule in candidates if rule.matches(view)]

    def _route(self, key: _Key) -> tuple[Rule, ...]:
        product, category, service = (_norm(part) for part in key)
        categories = {category, CATEGORY_PARENTS.get(category or "")} - {None}
        positions: list[int] = []
        for (r_product, r_category, r_service), found in self._index.items():
            if (
                (r_product is None or r_product == product)
                and (r_category is None or r_category in categories)
                and (r_service is None or r_service == service)
            ):
                positions += found
        return tuple(self._rules[p] for p in sorted(positions))

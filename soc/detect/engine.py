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
triple (from an index of the rules' own triples, not rule by rule) and cached
with their candidate index (index.py): per event, the engine looks up the
event's constant-valued fields and scans its string fields once with one
multi-pattern automaton per field, and runs only the rules that can match
(plus those the index cannot judge) through one EventView shared by them.
A rule without a condition IR (built by hand from a closure) is always run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from soc.detect.index import Atoms, RouteIndex, necessary, stats
from soc.detect.rule import Rule, RuleSet
from soc.detect.view import EventView, Matcher
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
        self._atoms: tuple[Atoms | None, ...] = tuple(
            None if rule.condition is None else necessary(rule.condition) for rule in self._rules
        )
        self._routes: dict[_Key, _Route] = {}

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

    def index_stats(self) -> dict[str, int]:
        """How many rules the candidate index can skip, and how many always run."""
        return stats(self._atoms)

    def prepare(self, logsources: Iterable[LogSource]) -> None:
        """Build the routes (and their scanners) for these logsources now, not on first use."""
        for logsource in logsources:
            self._route_for(logsource)

    def rules_for(self, logsource: LogSource) -> tuple[Rule, ...]:
        """The rules that apply to events of this logsource, in matching order."""
        return self._route_for(logsource).rules

    def match(self, event: Event) -> list[Rule]:
        """The rules that fire on the event, in matching order."""
        route = self._route_for(event.logsource)
        rules = route.rules
        if not rules:
            return []
        view = EventView(event.fields)
        matchers = route.matchers
        return [rules[i] for i in route.index.candidates(view) if matchers[i](view)]

    def _route_for(self, logsource: LogSource) -> _Route:
        key = (logsource.product, logsource.category, logsource.service)
        try:
            return self._routes[key]
        except KeyError:
            pass
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()
        positions = self._route(key)
        route = _Route(
            rules=tuple(self._rules[p] for p in positions),
            matchers=tuple(self._rules[p].matches for p in positions),
            index=RouteIndex([self._atoms[p] for p in positions]),
        )
        self._routes[key] = route
        return route

    def _route(self, key: _Key) -> list[int]:
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
        return sorted(positions)


@dataclass(frozen=True, slots=True)
class _Route:
    """The rules routed to one logsource triple, their matchers, and their candidate index."""

    rules: tuple[Rule, ...]
    matchers: tuple[Matcher, ...]
    index: RouteIndex

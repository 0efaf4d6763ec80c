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

Sigma filters (soc.detect.filter) are applied here, after a rule matched: a
match that a filter for the rule and the event's tenant removes is not
returned at all, and is counted in ``soc_events_filtered_total`` by filter id.
A route whose rules have no filter pays one falsy test per event for it.

The rules of a route that name every field they read are memoized (memo.py):
their outcome is remembered by the values of those fields, so an event whose
values were seen before costs one dict lookup for them; the rest (keyword
rules, rules without a condition IR) run per event through their own index.
The memos share a budget of bytes (``memo_bytes``; 0 turns memoizing off).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from soc.detect.correlation.model import Correlation
from soc.detect.filter import Filter, dropping
from soc.detect.index import Atoms, RouteIndex, necessary, stats
from soc.detect.memo import MAX_FIELDS, Budget, Memo, fields_read
from soc.detect.rule import Rule, RuleSet, filters_for
from soc.detect.view import EventView, Matcher
from soc.errors import RuleError
from soc.metrics import EVENTS_FILTERED
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
MEMO_BYTES = 64 * 2**20
"""What an engine's memos may hold by default (memo.py), in bytes."""


def _norm(part: str | None) -> str | None:
    return part.lower() if part else None


class Engine:
    """Matches events against compiled rules, looking only at the rules their logsource allows."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        errors: Sequence[RuleError] = (),
        filters: Sequence[Filter] = (),
        correlations: Sequence[Correlation] = (),
        memo_bytes: int = MEMO_BYTES,
    ) -> None:
        self._rules = tuple(rules)
        self._budget = Budget(memo_bytes) if memo_bytes > 0 else None
        self._errors = tuple(errors)
        self._correlations = tuple(correlations)
        self._filters = tuple(filters)
        self._filters_of: dict[str, tuple[Filter, ...]] = {}
        for f in self._filters:
            for rule_id in f.rule_ids:
                self._filters_of[rule_id] = (*self._filters_of.get(rule_id, ()), f)
        self._index: dict[_Key, list[int]] = {}
        for position, rule in enumerate(self._rules):
            ls = rule.logsource
            key = (_norm(ls.product), _norm(ls.category), _norm(ls.service))
            self._index.setdefault(key, []).append(position)
        self._atoms: tuple[Atoms | None, ...] = tuple(
            None if rule.condition is None else necessary(rule.condition) for rule in self._rules
        )
        self._reads: tuple[frozenset[str] | None, ...] = tuple(
            None if rule.condition is None else fields_read(rule.condition) for rule in self._rules
        )
        self._routes: dict[_Key, _Route] = {}

    @classmethod
    def from_ruleset(cls, ruleset: RuleSet, *, memo_bytes: int = MEMO_BYTES) -> Engine:
        """An engine over the rules and filters that loaded, keeping the load errors and
        correlations."""
        return cls(
            ruleset.rules,
            errors=ruleset.errors,
            filters=ruleset.filters,
            correlations=ruleset.correlations,
            memo_bytes=memo_bytes,
        )

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in matching order."""
        return self._rules

    @property
    def correlations(self) -> tuple[Correlation, ...]:
        """The correlation rules loaded with the rules (the engine itself does not run them:
        soc.detect.correlation.evaluate does, over the rules' matches)."""
        return self._correlations

    @property
    def errors(self) -> tuple[RuleError, ...]:
        """The rules that could not be loaded, when built with :meth:`from_ruleset`."""
        return self._errors

    @property
    def filters(self) -> tuple[Filter, ...]:
        """Every Sigma filter the engine applies."""
        return self._filters

    def filters_for(self, rule_id: str, tenant: str | None = None) -> tuple[Filter, ...]:
        """The filters that apply to the rule (for ``tenant``'s events; None: any tenant's)."""
        return filters_for(self._filters_of.get(rule_id, ()), rule_id, tenant)

    def index_stats(self) -> dict[str, int]:
        """How many rules the candidate index can skip, and how many always run."""
        return stats(self._atoms)

    def memo_stats(self) -> dict[str, int]:
        """The memos' lookups and hits so far, the keys they hold and the bytes charged."""
        memos = self._budget.memos if self._budget is not None else []
        return {
            "lookups": sum(m.lookups for m in memos),
            "hits": sum(m.hits for m in memos),
            "keys": sum(len(m.seen) for m in memos),
            "bytes": self._budget.spent if self._budget is not None else 0,
        }

    def prepare(self, logsources: Iterable[LogSource]) -> None:
        """Build the routes (and their scanners) for these logsources now, not on first use."""
        for logsource in logsources:
            self._route_for(logsource)

    def rules_for(self, logsource: LogSource) -> tuple[Rule, ...]:
        """The rules that apply to events of this logsource, in matching order."""
        return self._route_for(logsource).rules

    def match(self, event: Event) -> list[Rule]:
        """The rules that fire on the event, in matching order, less those its tenant's
        filters remove."""
        ls = event.logsource
        route = self._routes.get((ls.product, ls.category, ls.service))  # _route_for, inline
        if route is None:
            route = self._route_for(ls)
        rules = route.rules
        if not rules:
            return []
        fields = event.fields
        view = EventView(fields)
        memo = route.memo
        at: tuple[int, ...] | list[int] = memo.fired(fields, view) if memo is not None else ()
        if route.rest:
            rest, matchers = route.rest, route.matchers
            more = [rest[i] for i in route.index.candidates(view) if matchers[i](view)]
            if more:
                at = sorted((*at, *more)) if at else more
        if not at:
            return []
        fired = [rules[i] for i in at]
        if route.filters:
            return _unfiltered(fired, route.filters, view, event.tenant)
        return fired

    def _route_for(self, logsource: LogSource) -> _Route:
        key = (logsource.product, logsource.category, logsource.service)
        try:
            return self._routes[key]
        except KeyError:
            pass
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()
            if self._budget is not None:
                self._budget.forget()
        positions = self._route(key)
        rules = tuple(self._rules[p] for p in positions)
        memoized: list[int] = []  # route positions
        read: set[str] = set()
        if self._budget is not None:
            for i, p in enumerate(positions):
                names = self._reads[p]
                if names is not None:
                    memoized.append(i)
                    read |= names
            if len(read) > MAX_FIELDS:
                memoized, read = [], set()
        kept = set(memoized)
        rest = [i for i in range(len(rules)) if i not in kept]
        memo = None
        if memoized:
            assert self._budget is not None
            memo = Memo(
                sorted(read),
                positions=memoized,
                matchers=[rules[i].matches for i in memoized],
                index=RouteIndex([self._atoms[positions[i]] for i in memoized]),
                budget=self._budget,
            )
        route = _Route(
            rules=rules,
            memo=memo,
            rest=tuple(rest),
            matchers=tuple(rules[i].matches for i in rest),
            index=RouteIndex([self._atoms[positions[i]] for i in rest]),
            filters={r.id: self._filters_of[r.id] for r in rules if r.id in self._filters_of},
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


def _unfiltered(
    fired: list[Rule], filters: dict[str, tuple[Filter, ...]], view: EventView, tenant: str
) -> list[Rule]:
    """``fired`` less the rules whose match a filter removes (each counted by filter)."""
    kept: list[Rule] = []
    for rule in fired:
        found = filters.get(rule.id)
        removed = dropping(found, view, tenant) if found else None
        if removed is None:
            kept.append(rule)
        else:
            EVENTS_FILTERED.labels(filter=removed.id).inc()
    return kept


@dataclass(frozen=True, slots=True)
class _Route:
    """The rules routed to one logsource triple: the memo of those that name the fields
    they read; the route positions of the rest, their matchers and candidate index; and
    the filters of the rules that have any (by rule id)."""

    rules: tuple[Rule, ...]
    memo: Memo | None
    rest: tuple[int, ...]
    matchers: tuple[Matcher, ...]
    index: RouteIndex
    filters: dict[str, tuple[Filter, ...]]

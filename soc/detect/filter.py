"""A compiled Sigma filter: a condition that a rule's match must also meet to raise an alert.

    kept = [rule for rule in matched if dropping(filters_of(rule), view, tenant) is None]

Sigma filters (specification/sigma-filters-specification.md) tune rules for one
environment without editing them. As in pySigma (``SigmaFilter.apply_on_rule``,
which sigma-cli's converters use) the filter's condition is ANDed to the rule's:
the rule fires on an event only when the filter's condition holds too. So an
exclusion is written ``condition: not selection``, and an event that matches
``selection`` raises no alert for the filter's rules at all (unlike a
suppression, soc.incidents.suppress, which keeps the alert and closes it).

``tenants`` is the project's extension (the specification has no tenant): a
filter that names tenants applies to their events only; without it, to every
tenant's. Loading and resolving the ``rules`` references is in
:mod:`soc.detect.filters`; the engine applies filters (soc.detect.engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from soc.detect.ir import Node
from soc.detect.view import EventView, Matcher
from soc.models import LogSource


@dataclass(frozen=True, slots=True, eq=False)
class Filter:
    """One compiled Sigma filter, and, once loaded beside rules, the rules it applies to."""

    id: str
    """The filter's id; if it has none, a stable hash of its path relative to the folder loaded."""
    title: str
    description: str | None
    path: Path
    logsource: LogSource
    refs: tuple[str, ...] | None
    """The ``rules`` it names (ids or ``name:`` attributes), as written; None for ``any``."""
    tenants: frozenset[str] | None
    """The tenants whose events it applies to (the ``tenants`` extension); None: every tenant."""
    matches: Matcher
    """The filter's condition: a match of one of its rules stands only where this holds."""
    condition: Node | None = None
    """The condition as data (soc.detect.ir), what the rule cache stores."""
    version: str | None = None
    """Its ``modified``, else its ``date`` (ISO 8601), else None."""
    rule_ids: frozenset[str] = field(default_factory=frozenset)
    """The ids of the loaded rules it applies to (soc.detect.filters.resolve_filters)."""

    def applies_to(self, tenant: str) -> bool:
        """Whether events of ``tenant`` are subject to this filter."""
        return self.tenants is None or tenant in self.tenants


def dropping(filters: Sequence[Filter], view: EventView, tenant: str) -> Filter | None:
    """The first of ``filters`` (those of one rule) that removes the rule's match on this event.

    A filter removes it when it applies to the event's tenant and its condition does
    not hold; None when the match stands.
    """
    for f in filters:
        if (f.tenants is None or tenant in f.tenants) and not f.matches(view):
            return f
    return None

"""What a route's field-bound rules concluded, remembered by the values of the fields they read.

    memo = Memo(names, positions=..., matchers=..., index=..., budget=...)
    memo.fired(fields, view) -> (p, ...)      route positions of the rules that fire

Logs repeat themselves: a Sysmon process-access event differs from the last
one in its time, its process ids and GUIDs, but the fields the rules of its
logsource read (SourceImage, TargetImage, GrantedAccess, CallTrace) take a few
hundred distinct combinations over a whole campaign. A compiled rule is a pure
function of the fields its condition names (:func:`fields_read`), so the rules
of a route that name every field they read fire alike on two events whose
values for those fields are equal, and of the same types: the memo keys their
outcome by that tuple of values. Rules that read every field (keywords,
a field-less regex) or have no condition to read it from are not memoized: the
engine runs them per event as before.

A key is used only when every value is a str, an int, None or absent: no value
of one of these types equals a value of another, and equal values of one type
have equal string and numeric forms, so every matcher reads them alike. A bool
(``True == 1``), a float (``1.0 == 1``, ``0.0 == -0.0``), a list or anything
else is evaluated afresh. The memory is bounded: every remembered key is charged
its strings' size, and when the engine's budget (shared by its routes) is spent,
every route forgets and starts over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from soc.detect.index import RouteIndex
from soc.detect.ir import And, FieldRef, Node, Not, Or
from soc.detect.view import EventView, Matcher

MAX_FIELDS = 256
"""A route whose memoized rules read more fields than this is not memoized (keys too dear)."""
ENTRY_BYTES = 240
"""What one remembered key costs besides its strings (tuples, the dict's slot, the outcome)."""


def fields_read(node: Node) -> frozenset[str] | None:
    """The fields a condition reads, or None when it reads any field (a keyword)."""
    if isinstance(node, And | Or):
        out: set[str] = set()
        for child in node.children:
            found = fields_read(child)
            if found is None:
                return None
            out |= found
        return frozenset(out)
    if isinstance(node, Not):
        return fields_read(node.child)
    if isinstance(node, FieldRef):
        return frozenset({node.field, node.other})
    return None if node.field is None else frozenset({node.field})


class _Absent:
    """The value of a field the event does not have (distinct from a null value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()
_KEY_TYPES = frozenset({str, int, type(None), _Absent})
"""The types a key may hold: no two of them have equal values (``True == 1`` and
``1 == 1.0``, so bool and float are left out), so equal keys hold equal types."""


class Budget:
    """The bytes an engine's memos may hold between them; spent, they all start over."""

    __slots__ = ("limit", "memos", "spent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0
        self.memos: list[Memo] = []

    def charge(self, size: int) -> None:
        """Count a key remembered; past the limit, every memo forgets."""
        self.spent += size
        if self.spent > self.limit:
            for memo in self.memos:
                memo.seen.clear()
            self.spent = 0

    def forget(self) -> None:
        """Drop every memo (their routes are gone)."""
        self.memos.clear()
        self.spent = 0


class Memo:
    """One route's memoized rules: their matchers, their candidate index, what they decided."""

    __slots__ = (
        "absent",
        "budget",
        "hits",
        "index",
        "lookups",
        "matchers",
        "names",
        "positions",
        "seen",
    )

    def __init__(
        self,
        names: Sequence[str],
        *,
        positions: Sequence[int],
        matchers: Sequence[Matcher],
        index: RouteIndex,
        budget: Budget,
    ) -> None:
        """``positions``: the route positions of the memoized rules, whose ``matchers`` and
        candidate ``index`` (local positions) are given; ``names``: the fields they read."""
        self.names = tuple(names)
        self.positions = tuple(positions)
        self.absent = (ABSENT,) * len(self.names)
        self.matchers = tuple(matchers)
        self.index = index
        self.budget = budget
        self.seen: dict[tuple[Any, ...], tuple[int, ...]] = {}
        self.lookups = 0
        self.hits = 0
        budget.memos.append(self)

    def fired(self, fields: Mapping[str, Any], view: EventView) -> tuple[int, ...]:
        """The route positions, in order, of the memoized rules that fire on the event."""
        values = tuple(map(fields.get, self.names, self.absent))
        if not _KEY_TYPES.issuperset(map(type, values)):
            return self.evaluate(view)
        key = values  # equal only if of equal types, position by position (see _KEY_TYPES)
        self.lookups += 1
        found = self.seen.get(key)
        if found is not None:
            self.hits += 1
            return found
        found = self.seen[key] = self.evaluate(view)
        self.budget.charge(ENTRY_BYTES + sum(len(v) + 49 for v in values if type(v) is str))
        return found

    def evaluate(self, view: EventView) -> tuple[int, ...]:
        """The rules that fire (route positions), found by running the candidates' matchers."""
        matchers, positions = self.matchers, self.positions
        return tuple(positions[i] for i in self.index.candidates(view) if matchers[i](view))

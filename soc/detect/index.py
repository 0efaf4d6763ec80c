"""Which rules can fire on an event: a candidate index over the rules' necessary conditions.

Analysis, once per rule (:func:`necessary`): from the rule's condition (the IR
of ir.py), a set of *atoms* at least one of which holds on every event the
rule matches, or None when no such set is known:

    Eq(field, text)      a lowered string form of the field equals text
    NumEq(field, n)      a numeric form of the field equals n
    Has(field, literal)  a lowered string form of the field contains literal
                         (field None: any field's, as keywords search)

    Strings   each pattern: EXACT -> Eq; PREFIX, SUFFIX, CONTAINS -> Has of its
              literal; REGEX (inner wildcards) -> Has of its longest literal run;
              an empty literal, or a non-ASCII one of a cased pattern -> None
    Numbers   NumEq of each value
    Or        the union of its children's sets (None if any child's is None)
    And       the cheapest child's set: every child of an AND must hold
    Not, Null, Exists, Bool, Regex, Cidr, Compare, FieldRef -> None

An atom is tested on the same lowered forms the compiled matchers read
(``EventView.lowered``), so "the rule matches" implies "one of its atoms
holds": the index only ever drops rules that cannot match. (A cased pattern is
tested on the raw value; for an ASCII literal, raw containing it implies the
lowered value contains it lowered. Eq holds for any literal, since equal
strings lower alike.)

Per logsource route, a :class:`RouteIndex` merges the routed rules' atoms:
rules with None are *always* evaluated; NumEq atoms become dict lookups per
field; the texts of all Eq and Has atoms go into one multi-literal scanner
(scan.py: Hyperscan, or Aho-Corasick), run once per event over the event's
keyword text (every value, NUL-separated, lowered or scanned caselessly; see
``EventView.joined_text`` and ``Scanner.scan_lowered``): a value that equals
or contains a text holds it. A text found there selects its keyword rules at once, and its field
rules when that field's lowered value equals (Eq) or contains (Has) it, a
plain ``==`` or ``in`` on the values the matchers read anyway. Per event, the
candidates are the always-rules plus every hit, and only those run, in the
rules' order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from soc.detect.ir import And, Node, Not, Numbers, Or, Strings
from soc.detect.patterns import Kind, StringPattern
from soc.detect.scan import ScannerKind, build_scanner
from soc.detect.view import EventView, Number


@dataclass(frozen=True, slots=True)
class Eq:
    field: str
    text: str


@dataclass(frozen=True, slots=True)
class NumEq:
    field: str
    number: Number


@dataclass(frozen=True, slots=True)
class Has:
    field: str | None
    literal: str


Atom = Eq | NumEq | Has
Atoms = frozenset[Atom]

BROAD_FIELDS = frozenset(
    {"eventid", "channel", "provider_name", "provider", "level", "task", "opcode", "eventtype"}
)
"""Fields whose values most events of a logsource share: a poor choice to index an AND on."""


def _atom_cost(atom: Atom) -> float:
    """Roughly how often the atom holds: lower is more selective."""
    if isinstance(atom, Eq | NumEq):
        return 50.0 if atom.field.lower() in BROAD_FIELDS else 1.0
    n = len(atom.literal)
    cost = 1.0 if n >= 8 else 2.0 if n >= 5 else 5.0 if n >= 3 else 20.0
    return cost * 2 if atom.field is None else cost


def cost(atoms: Atoms) -> float:
    """The expected hits of a set of atoms."""
    return sum(map(_atom_cost, atoms))


def _pattern_atom(field: str | None, cased: bool, pattern: StringPattern) -> Atom | None:
    if pattern.kind is Kind.EXACT:
        return Eq(field, pattern.text.lower()) if field is not None else None
    if pattern.kind is Kind.REGEX:
        literal = max(pattern.literals, key=len, default="")
    else:
        literal = pattern.text
    if not literal or (cased and not literal.isascii()):
        return None
    return Has(field, literal.lower() if cased else literal)


def necessary(node: Node) -> Atoms | None:
    """Atoms one of which holds on every matching event, or None; see the module docstring."""
    if isinstance(node, Strings):
        atoms: set[Atom] = set()
        for pattern in node.patterns:
            atom = _pattern_atom(node.field, node.cased, pattern)
            if atom is None:
                return None
            atoms.add(atom)
        return frozenset(atoms)
    if isinstance(node, Numbers):
        return frozenset(NumEq(node.field, n) for n in node.values)
    if isinstance(node, Or):
        union: set[Atom] = set()
        for child in node.children:
            found = necessary(child)
            if found is None:
                return None
            union |= found
        return frozenset(union)
    if isinstance(node, And):
        options = [found for child in node.children if (found := necessary(child)) is not None]
        return min(options, key=cost, default=None)
    if isinstance(node, Not):
        return None
    return None


_Check = tuple[str, str, bool, tuple[int, ...]]
"""(field, literal, exact, rules): the rules a found literal selects if the field holds it."""


class RouteIndex:
    """The candidate index of the rules routed to one logsource; positions are local."""

    __slots__ = ("always", "checks", "eq", "keyword_hits", "num", "scan_only", "scanner")

    def __init__(
        self, conditions: Sequence[Atoms | None], *, scanner: ScannerKind = "auto"
    ) -> None:
        always: list[int] = []
        eq: dict[str, dict[str, set[int]]] = {}
        num: dict[str, dict[Number, set[int]]] = {}
        found: dict[str, dict[tuple[str | None, bool], set[int]]] = {}
        for position, atoms in enumerate(conditions):
            if atoms is None:
                always.append(position)
                continue
            for atom in atoms:
                if isinstance(atom, NumEq):
                    num.setdefault(atom.field, {}).setdefault(atom.number, set()).add(position)
                elif isinstance(atom, Eq) and not atom.text:  # nothing to scan for
                    eq.setdefault(atom.field, {}).setdefault(atom.text, set()).add(position)
                else:
                    literal = atom.text if isinstance(atom, Eq) else atom.literal
                    by_test = found.setdefault(literal, {})
                    by_test.setdefault((atom.field, isinstance(atom, Eq)), set()).add(position)
        self.always = tuple(always)
        self.eq = {f: {t: tuple(sorted(p)) for t, p in v.items()} for f, v in eq.items()}
        self.num = {f: {n: tuple(sorted(p)) for n, p in v.items()} for f, v in num.items()}
        literals = list(found)
        self.scanner = build_scanner(literals, kind=scanner) if literals else None
        self.keyword_hits: tuple[tuple[int, ...], ...] = tuple(
            tuple(sorted(found[lit].get((None, False), ()))) for lit in literals
        )
        """Per literal: the rules it selects wherever in the event it occurs (keywords)."""
        self.checks: tuple[tuple[_Check, ...], ...] = tuple(
            tuple(
                (field, lit, exact, tuple(sorted(positions)))
                for (field, exact), positions in found[lit].items()
                if field is not None
            )
            for lit in literals
        )
        """Per literal: what it selects when a field holds it (``exact``: equals it)."""
        self.scan_only = not (self.always or self.eq or self.num)
        """Whether the scan alone finds every candidate (no always-rule, no lookup)."""

    def candidates(self, view: EventView) -> list[int]:
        """The positions of the rules that may match the event, in order."""
        scanner = self.scanner
        hits = scanner.scan_lowered(view.joined_text()) if scanner is not None else ()
        if not hits and self.scan_only:
            return []  # nothing found: the commonest answer, and the cheapest
        found: set[int] = set(self.always)
        if self.num:
            numbers_of = view.numbers
            for field, numbers in self.num.items():
                for n in numbers_of(field):
                    hit = numbers.get(n)
                    if hit is not None:
                        found.update(hit)
        for field, table in self.eq.items():
            for s in view.lowered(field):
                hit = table.get(s)
                if hit is not None:
                    found.update(hit)
        if hits:
            keyword_hits, checks, lowered = self.keyword_hits, self.checks, view.lowered
            for i in hits:
                selected = keyword_hits[i]
                if selected:
                    found.update(selected)
                for field, literal, exact, positions in checks[i]:
                    for s in lowered(field):
                        if s == literal if exact else literal in s:
                            found.update(positions)
                            break
        return sorted(found) if found else []


def stats(conditions: Iterable[Atoms | None]) -> dict[str, int]:
    """How many rules are indexed, and how many are always evaluated (for reports)."""
    out = {"indexed": 0, "always": 0}
    for atoms in conditions:
        out["always" if atoms is None else "indexed"] += 1
    return out

"""Matchers for one field (or, for keywords, every field) against one kind of Sigma value.

Each function takes an IR leaf (ir.py) and returns a closure over an
EventView; each reads the view's cached forms (lowered strings, numbers), so
no matcher converts a value the view has already converted for this event.

    string_matcher   a StringPredicate over the lowered (or, cased, raw) string forms
    number_matcher   numeric equality with any of a set of numbers
    leaf_matcher     null, exists, bool, re (on a field or every field), cidr,
                     lt/lte/gt/gte/neq, fieldref
"""

from __future__ import annotations

import ipaddress
import operator
import re
import re._parser as _re_parser  # type: ignore[import-not-found,unused-ignore]
from collections.abc import Callable
from typing import Any

from soc.detect.ir import (
    Bool,
    Cidr,
    Compare,
    CompareOp,
    Exists,
    FieldRef,
    Leaf,
    Null,
    Numbers,
    RefMode,
    Regex,
    Strings,
)
from soc.detect.patterns import StringPredicate, string_predicate
from soc.detect.view import EventView, Matcher, Number
from soc.errors import RuleError

_COMPARE: dict[CompareOp, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "neq": operator.ne,
}
_REF_TESTS: dict[RefMode, Callable[[str, str], bool]] = {
    "eq": operator.eq,
    "startswith": str.startswith,
    "endswith": str.endswith,
    "contains": operator.contains,
}


def string_matcher(field: str | None, predicate: StringPredicate, *, cased: bool) -> Matcher:
    """Any string form of the field (of every field when None) satisfies the predicate."""
    if field is None:
        read_all = EventView.all_strings if cased else EventView.all_lowered

        def keyword_match(view: EventView) -> bool:
            return any(map(predicate, read_all(view)))

        return keyword_match
    read = EventView.strings if cased else EventView.lowered

    def field_match(view: EventView) -> bool:
        for s in read(view, field):  # noqa: SIM110 - a loop, not a generator frame, per event
            if predicate(s):
                return True
        return False

    return field_match


def number_matcher(field: str, values: frozenset[Number]) -> Matcher:
    """Any numeric form of the field equals one of the values."""

    def number_match(view: EventView) -> bool:
        return not values.isdisjoint(view.numbers(field))

    return number_match


# --- the other leaves -----------------------------------------------------------------


def leaf_matcher(leaf: Leaf) -> Matcher:
    """The closure for one IR leaf."""
    if isinstance(leaf, Strings):
        return string_matcher(leaf.field, string_predicate(leaf.patterns), cased=leaf.cased)
    if isinstance(leaf, Numbers):
        return number_matcher(leaf.field, frozenset(leaf.values))
    if isinstance(leaf, Null):
        return _null_matcher(leaf.field)
    if isinstance(leaf, Exists):
        field, wanted = leaf.field, leaf.exists
        return lambda view: view.has(field) is wanted
    if isinstance(leaf, Bool):
        return _bool_matcher(leaf)
    if isinstance(leaf, Regex):
        return _regex_matcher(leaf)
    if isinstance(leaf, Cidr):
        return _cidr_matcher(leaf)
    if isinstance(leaf, Compare):
        field, compare, bound = leaf.field, _COMPARE[leaf.op], leaf.number
        return lambda view: any(compare(n, bound) for n in view.numbers(field))
    if isinstance(leaf, FieldRef):
        return _fieldref_matcher(leaf)
    raise RuleError(f"unsupported condition leaf {type(leaf).__name__}")  # pragma: no cover


def _null_matcher(field: str) -> Matcher:
    """The field has no value: it is absent, null, or the empty string (an empty ``<Data>``
    element of a Windows event, which the evtx parser gives as ""; docs/adr/0008)."""

    def null_match(view: EventView) -> bool:
        return not view.has(field) or any(v is None or v == "" for v in view.values(field))

    return null_match


def _bool_matcher(leaf: Bool) -> Matcher:
    field, b, text = leaf.field, leaf.value, ("true" if leaf.value else "false")
    return lambda view: any(
        v is b or (isinstance(v, str) and v.lower() == text) for v in view.values(field)
    )


_LITERAL = _re_parser.LITERAL
_SUBPATTERN = _re_parser.SUBPATTERN

_LEADING_RUN = re.compile(r"(\\[wsdWSD]|\.)\+(?![*+?{])")
"""A pattern's first element repeated once or more (``\\w+``), not lazily or possessively."""


def search_source(source: str) -> str:
    """A pattern that occurs in a text exactly when ``source`` does, and is searched faster.

    Python's re tries every start of a run for a pattern led by ``\\w+`` and backtracks
    through the rest of it: quadratic in the run (a PowerShell script of 18 kB took 0.7 ms
    with SigmaHQ's token-obfuscation rule). For *whether* it occurs, a leading ``X+`` is
    the same as ``X``: where ``X+`` then the rest matches, its last ``X`` then the rest
    does, and the converse is the run of one."""
    found = _LEADING_RUN.match(source)
    return source[: found.end() - 1] + source[found.end() :] if found else source


def required_texts(source: str, flags: int = 0) -> tuple[str, ...]:
    """Texts every match of the pattern contains, as they are: a quick ``in`` before the
    search (what an engine with a literal prefilter does). () when none is known.

    Read from the pattern's parse (``re._parser``, the standard library's own): the runs
    of literal characters along its mandatory spine (the top level, and groups in it),
    broken by anything else. Under IGNORECASE, only ASCII characters without case count
    (``&``, ``\\``, digits), which match only themselves."""
    try:
        parsed = _re_parser.parse(source, flags)
    except Exception:  # an internal API: no prefilter rather than a failure
        return ()
    caseless = bool(parsed.state.flags & re.IGNORECASE)
    runs: list[str] = []
    run: list[str] = []

    def walk(items: Any) -> None:
        for op, av in items:
            if op is _LITERAL and not (caseless and not _uncased(chr(av))):
                run.append(chr(av))
            elif op is _SUBPATTERN and not av[1] and not av[2]:  # a group, no scoped flags
                walk(av[3])
            elif run:
                runs.append("".join(run))
                run.clear()

    walk(parsed)
    if run:
        runs.append("".join(run))
    return tuple(runs)


def _uncased(ch: str) -> bool:
    return ch.isascii() and ch.lower() == ch.upper()


def _regex_matcher(leaf: Regex) -> Matcher:
    try:
        search = re.compile(search_source(leaf.source), leaf.flags).search
    except re.error as e:
        raise RuleError(f"invalid regular expression {leaf.source!r}: {e}") from e
    field = leaf.field
    needed = required_texts(leaf.source, leaf.flags)

    def found(s: str) -> bool:
        for text in needed:
            if text not in s:
                return False
        return search(s) is not None

    if field is None:
        return lambda view: any(map(found, view.all_strings()))
    return lambda view: any(map(found, view.strings(field)))


def _cidr_matcher(leaf: Cidr) -> Matcher:
    field = leaf.field
    try:
        network = ipaddress.ip_network(leaf.network, strict=False)
    except ValueError as e:
        raise RuleError(f"invalid network {leaf.network!r}: {e}") from e

    def in_network(view: EventView) -> bool:
        for s in view.strings(field):
            try:
                address = ipaddress.ip_address(s.strip())
            except ValueError:
                continue
            if address in network:
                return True
            mapped = getattr(address, "ipv4_mapped", None)
            if mapped is not None and mapped in network:
                return True
        return False

    return in_network


def _fieldref_matcher(leaf: FieldRef) -> Matcher:
    field, other, test = leaf.field, leaf.other, _REF_TESTS[leaf.mode]

    def reference_match(view: EventView) -> bool:
        theirs = view.lowered(other)
        return any(test(mine, ref) for mine in view.lowered(field) for ref in theirs)

    return reference_match

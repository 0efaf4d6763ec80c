"""Matchers for one field (or, for keywords, every field) against one kind of Sigma value.

Each function takes what compile.py decided and returns a closure over an
EventView; each reads the view's cached forms (lowered strings, numbers), so
no matcher converts a value the view has already converted for this event.

    string_matcher   a StringPredicate over the lowered (or, cased, raw) string forms
    number_matcher   numeric equality with any of a set of numbers
    field_matcher    null, exists, bool, re, cidr, lt/lte/gt/gte/neq, fieldref
    keyword_matcher  a regular expression searched in every field's strings
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable
from typing import Any

from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaType,
)

from soc.detect.patterns import StringPredicate
from soc.detect.view import EventView, Matcher, Number
from soc.errors import RuleError

_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
_COMPARE: dict[CompareOperators, Callable[[Any, Any], bool]] = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
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


# --- the other value types ------------------------------------------------------------


def _regex(value: SigmaRegularExpression) -> re.Pattern[str]:
    if value.regexp.contains_placeholder():
        raise RuleError("placeholder in regular expression is not supported (expand modifier)")
    flags = 0
    for flag in value.flags:
        flags |= _RE_FLAGS[flag]
    try:
        return re.compile(str(value.regexp), flags)
    except re.error as e:
        raise RuleError(f"invalid regular expression {str(value.regexp)!r}: {e}") from e


def field_matcher(field: str, value: SigmaType) -> Matcher:
    """A test of one field against one value that is not a plain string or number."""
    if isinstance(value, SigmaNull):
        return lambda view: not view.has(field) or any(v is None for v in view.values(field))
    if isinstance(value, SigmaExists):
        wanted = value.exists
        return lambda view: view.has(field) is wanted
    if isinstance(value, SigmaBool):
        b, text = value.boolean, ("true" if value.boolean else "false")
        return lambda view: any(
            v is b or (isinstance(v, str) and v.lower() == text) for v in view.values(field)
        )
    if isinstance(value, SigmaRegularExpression):
        search = _regex(value).search
        return lambda view: any(search(s) is not None for s in view.strings(field))
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_matcher(field, value)
    if isinstance(value, SigmaCompareExpression):
        compare, bound = _COMPARE[value.op], value.number.number
        return lambda view: any(compare(n, bound) for n in view.numbers(field))
    if isinstance(value, SigmaFieldReference):
        return _fieldref_matcher(field, value)
    raise RuleError(f"unsupported value type {type(value).__name__} for field {field!r}")


def keyword_matcher(value: SigmaType) -> Matcher:
    """A field-less value that is not a plain string or number."""
    if isinstance(value, SigmaRegularExpression):
        search = _regex(value).search
        return lambda view: any(search(s) is not None for s in view.all_strings())
    raise RuleError(f"unsupported keyword value type {type(value).__name__}")


def _cidr_matcher(field: str, value: SigmaCIDRExpression) -> Matcher:
    network = value.network

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


def _fieldref_matcher(field: str, value: SigmaFieldReference) -> Matcher:
    other = value.field
    test: Callable[[str, str], bool]
    if value.starts_with and value.ends_with:
        test = operator.contains
    elif value.starts_with:
        test = str.startswith
    elif value.ends_with:
        test = str.endswith
    else:
        test = operator.eq

    def reference_match(view: EventView) -> bool:
        theirs = view.lowered(other)
        return any(test(mine, ref) for mine in view.lowered(field) for ref in theirs)

    return reference_match

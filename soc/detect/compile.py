"""A rule's condition (the IR of ir.py) built, once, into nested closures over an EventView.

    compile_rule(sigma_rule) -> Matcher        pySigma rule -> IR -> closures
    build(node) -> Matcher                     IR -> closures (also from the cache)

Field values, and how an event's value is tested against them (the string
kinds in patterns.py, the others in values.py):

    SigmaString        case-insensitive, wildcards * and ?
    SigmaCasedString   the same, case-sensitive             (|cased)
    SigmaExpansion     any of its values                    (windash, base64offset)
    SigmaNumber        numeric equality; numeric strings are parsed
    SigmaBool          true/false, or the strings "true"/"false"
    SigmaNull          the field has no value: absent, null or ""   (docs/adr/0008)
    SigmaExists        the field is (not) present           (|exists)
    SigmaRegularExpression  re.search on the value as is, flags i/m/s (|re)
    SigmaCIDRExpression     the value is an IP address in the network (|cidr)
    SigmaCompareExpression  numeric lt/lte/gt/gte/neq
    SigmaFieldReference     equal to (or starts/ends with, contains) another
                            field's value, case-insensitive (|fieldref)

A field holding a list matches when any element does; an absent field
matches nothing (so ``not selection`` is true for it). Strings match numbers
through their decimal form: ``EventID: '4688'`` matches 4688. A keyword is
searched inside every string form of every field (``'mimikatz'`` matches a
CommandLine that contains it), which is what SigmaHQ's keyword rules expect.

Anything else (timestamp parts, placeholders, query expressions) raises
RuleError at compile time, naming the type: a rule never half-works.
"""

from __future__ import annotations

from collections.abc import Sequence

from sigma.rule import SigmaRule

from soc.detect.ir import And, Node, Not, Numbers, Or, Strings, rule_condition, sigma_reason
from soc.detect.patterns import string_predicate
from soc.detect.values import leaf_matcher, number_matcher, string_matcher
from soc.detect.view import EventView, Matcher
from soc.errors import RuleError

__all__ = ["Matcher", "build", "compile_rule", "sigma_reason"]


def compile_rule(rule: SigmaRule) -> Matcher:
    """Compile every condition of the rule; the rule matches when any of them does."""
    return build(rule_condition(rule))


def build(node: Node) -> Matcher:
    """The closure that evaluates one IR node on an event."""
    if isinstance(node, And):
        return _all_of([build(child) for child in node.children])
    if isinstance(node, Or):
        return _any_of([build(child) for child in node.children])
    if isinstance(node, Not):
        inner = build(node.child)
        return lambda view: not inner(view)
    if isinstance(node, Strings):
        return string_matcher(node.field, string_predicate(node.patterns), cased=node.cased)
    if isinstance(node, Numbers):
        return number_matcher(node.field, frozenset(node.values))
    return leaf_matcher(node)


def _all_of(matchers: Sequence[Matcher]) -> Matcher:
    if not matchers:
        raise RuleError("empty 'and'")
    if len(matchers) == 1:
        return matchers[0]
    frozen = tuple(matchers)

    def all_match(view: EventView) -> bool:
        for matcher in frozen:  # noqa: SIM110 - a loop, not a generator frame, per event
            if not matcher(view):
                return False
        return True

    return all_match


def _any_of(matchers: Sequence[Matcher]) -> Matcher:
    if not matchers:
        raise RuleError("empty 'or'")
    if len(matchers) == 1:
        return matchers[0]
    frozen = tuple(matchers)

    def any_match(view: EventView) -> bool:
        for matcher in frozen:  # noqa: SIM110 - a loop, not a generator frame, per event
            if matcher(view):
                return True
        return False

    return any_match

"""A Sigma rule's detection compiled, once, into nested closures over an EventView.

pySigma parses the condition and resolves the detections it names (``1 of
selection_*``, ``all of them``, ``|all``, ``|neq``) into a tree; modifiers
have already turned the values into typed SigmaType objects:

    ConditionAND / ConditionOR / ConditionNOT        -> all / any / not of the children
    ConditionFieldEqualsValueExpression(field, value) -> a test on one field
    ConditionValueExpression(value)                   -> a keyword: any value of any field

Field values, and how an event's value is tested against them (the string
kinds in patterns.py, the others in values.py):

    SigmaString        case-insensitive, wildcards * and ?
    SigmaCasedString   the same, case-sensitive             (|cased)
    SigmaExpansion     any of its values                    (windash, base64offset)
    SigmaNumber        numeric equality; numeric strings are parsed
    SigmaBool          true/false, or the strings "true"/"false"
    SigmaNull          the field is absent or null
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

Within an OR (a value list, an expansion, ``1 of``), the string values of one
field are merged into a single predicate, and numbers into a set, so a list of
forty ``Image|endswith`` values costs one ``str.endswith`` call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaCasedString,
    SigmaExpansion,
    SigmaNumber,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
)

from soc.detect.patterns import StringPattern, string_predicate, to_pattern
from soc.detect.values import field_matcher, keyword_matcher, number_matcher, string_matcher
from soc.detect.view import EventView, Matcher, Number
from soc.errors import RuleError

__all__ = ["Matcher", "compile_condition", "compile_rule", "sigma_reason"]


def sigma_reason(error: SigmaError) -> str:
    """A pySigma error's message without the location pySigma appends to str()."""
    message = str(error.args[0]) if error.args else type(error).__name__
    return f"{type(error).__name__}: {message}"


def compile_rule(rule: SigmaRule) -> Matcher:
    """Compile every condition of the rule; the rule matches when any of them does."""
    matchers: list[Matcher] = []
    for condition in rule.detection.parsed_condition:
        try:
            tree = condition.parse()
        except SigmaError as e:
            raise RuleError(sigma_reason(e)) from e
        if tree is None:
            raise RuleError(f"condition {condition.condition!r} selects nothing")
        matchers.append(compile_condition(tree))
    if not matchers:
        raise RuleError("rule has no condition")
    return _any_of(matchers)


def compile_condition(node: object) -> Matcher:
    """Compile one node of pySigma's postprocessed condition tree."""
    if isinstance(node, ConditionAND):
        return _all_of([compile_condition(arg) for arg in node.args])
    if isinstance(node, ConditionNOT):
        if len(node.args) != 1:
            raise RuleError(f"'not' with {len(node.args)} operands")
        inner = compile_condition(node.args[0])
        return lambda view: not inner(view)
    if isinstance(
        node, ConditionOR | ConditionFieldEqualsValueExpression | ConditionValueExpression
    ):
        return _compile_or([node])
    raise RuleError(f"unsupported condition element {type(node).__name__}")


# --- boolean combinators ------------------------------------------------------------


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


# --- OR with values grouped per field -------------------------------------------------


def _leaves(value: SigmaType) -> Iterator[SigmaType]:
    """A value, or the values of an expansion (nested expansions flattened)."""
    if isinstance(value, SigmaExpansion):
        for inner in value.values:
            yield from _leaves(inner)
    else:
        yield value


def _or_operands(nodes: Sequence[object]) -> Iterator[object]:
    """The operands of nested ORs, flattened (OR is associative)."""
    for node in nodes:
        if isinstance(node, ConditionOR):
            yield from _or_operands(node.args)
        else:
            yield node


def _compile_or(nodes: Sequence[object]) -> Matcher:
    """OR of nodes; string values of one field (or keywords) become one predicate."""
    strings: dict[tuple[str | None, bool], list[StringPattern]] = {}
    numbers: dict[str, list[Number]] = {}
    others: list[Matcher] = []
    for node in _or_operands(nodes):
        if isinstance(node, ConditionFieldEqualsValueExpression):
            for leaf in _leaves(node.value):
                if isinstance(leaf, SigmaString):
                    cased = isinstance(leaf, SigmaCasedString)
                    pattern = to_pattern(leaf, cased=cased)
                    strings.setdefault((node.field, cased), []).append(pattern)
                elif isinstance(leaf, SigmaNumber) and not isinstance(leaf, SigmaTimestampPart):
                    numbers.setdefault(node.field, []).append(leaf.number)
                else:
                    others.append(field_matcher(node.field, leaf))
        elif isinstance(node, ConditionValueExpression):
            for leaf in _leaves(node.value):
                if isinstance(leaf, SigmaString):
                    cased = isinstance(leaf, SigmaCasedString)
                    pattern = to_pattern(leaf, cased=cased, anywhere=True)
                    strings.setdefault((None, cased), []).append(pattern)
                elif isinstance(leaf, SigmaNumber) and not isinstance(leaf, SigmaTimestampPart):
                    pattern = to_pattern(SigmaString(str(leaf.number)), anywhere=True)
                    strings.setdefault((None, False), []).append(pattern)
                else:
                    others.append(keyword_matcher(leaf))
        else:
            others.append(compile_condition(node))
    matchers = [
        string_matcher(field, string_predicate(patterns), cased=cased)
        for (field, cased), patterns in strings.items()
    ]
    matchers += [number_matcher(field, frozenset(values)) for field, values in numbers.items()]
    return _any_of(matchers + others)

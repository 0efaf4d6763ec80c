"""A rule's condition as plain data: the intermediate representation (IR) of a compiled rule.

pySigma parses the condition and resolves the detections it names (``1 of
selection_*``, ``all of them``, ``|all``, ``|neq``) into a tree whose values
modifiers have already typed. :func:`rule_condition` turns that tree into a
small tree of frozen dataclasses, the one thing the rest of detection builds on:

    compile.py   the IR -> nested closures over an EventView (what runs per event)
    index.py     the IR -> the rule's necessary condition (which events can match)
    cache.py     the IR <-> JSON, so a restart with unchanged rules skips pySigma

The nodes:

    And(children) / Or(children) / Not(child)
    Strings(field, cased, patterns)  a field's string forms (every field's when
                                     field is None: a keyword) match any pattern
    Numbers(field, values)           a numeric form of the field equals any value
    Null(field)                      no value: absent, null, or "" (ADR 0008)
    Exists(field, exists)            present (or not)                  (|exists)
    Bool(field, value)               true/false, or the strings "true"/"false"
    Regex(field, source, flags)      re.search on the raw string forms  (|re)
    Cidr(field, network)             an IP address in the network       (|cidr)
    Compare(field, op, number)       lt/lte/gt/gte/neq                  (|lt ...)
    FieldRef(field, other, mode)     equal to / starts or ends with / contains
                                     another field's value, case-insensitive

Sigma's types map onto them as compile.py's docstring describes; anything
else (timestamp parts, placeholders, query expressions) raises RuleError here,
naming the type: a rule never half-works. Within an OR (a value list, an
expansion, ``1 of``), the string values of one field are merged into one
Strings node, and numbers into one Numbers node, so a list of forty
``Image|endswith`` values costs one ``str.endswith`` call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

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
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
)

from soc.detect.patterns import StringPattern, to_pattern
from soc.errors import RuleError

Number = int | float
CompareOp = Literal["lt", "lte", "gt", "gte", "neq"]
RefMode = Literal["eq", "startswith", "endswith", "contains"]


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Strings:
    field: str | None
    cased: bool
    patterns: tuple[StringPattern, ...]


@dataclass(frozen=True, slots=True)
class Numbers:
    field: str
    values: tuple[Number, ...]


@dataclass(frozen=True, slots=True)
class Null:
    field: str


@dataclass(frozen=True, slots=True)
class Exists:
    field: str
    exists: bool


@dataclass(frozen=True, slots=True)
class Bool:
    field: str
    value: bool


@dataclass(frozen=True, slots=True)
class Regex:
    field: str | None
    source: str
    flags: int


@dataclass(frozen=True, slots=True)
class Cidr:
    field: str
    network: str


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    op: CompareOp
    number: Number


@dataclass(frozen=True, slots=True)
class FieldRef:
    field: str
    other: str
    mode: RefMode


Leaf = Strings | Numbers | Null | Exists | Bool | Regex | Cidr | Compare | FieldRef
Node = And | Or | Not | Leaf

_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
_COMPARE: dict[CompareOperators, CompareOp] = {
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
    CompareOperators.NEQ: "neq",
}


def sigma_reason(error: SigmaError) -> str:
    """A pySigma error's message without the location pySigma appends to str()."""
    message = str(error.args[0]) if error.args else type(error).__name__
    return f"{type(error).__name__}: {message}"


def rule_condition(rule: SigmaRule) -> Node:
    """The IR of every condition of the rule; the rule matches when any of them does."""
    nodes: list[Node] = []
    for condition in rule.detection.parsed_condition:
        try:
            tree = condition.parse()
        except SigmaError as e:
            raise RuleError(sigma_reason(e)) from e
        if tree is None:
            raise RuleError(f"condition {condition.condition!r} selects nothing")
        nodes.append(condition_node(tree))
    if not nodes:
        raise RuleError("rule has no condition")
    return _or_of(nodes)


def condition_node(node: object) -> Node:
    """The IR of one node of pySigma's postprocessed condition tree."""
    if isinstance(node, ConditionAND):
        children = [condition_node(arg) for arg in node.args]
        if not children:
            raise RuleError("empty 'and'")
        return children[0] if len(children) == 1 else And(tuple(children))
    if isinstance(node, ConditionNOT):
        if len(node.args) != 1:
            raise RuleError(f"'not' with {len(node.args)} operands")
        return Not(condition_node(node.args[0]))
    if isinstance(
        node, ConditionOR | ConditionFieldEqualsValueExpression | ConditionValueExpression
    ):
        return _or_node([node])
    raise RuleError(f"unsupported condition element {type(node).__name__}")


def _or_of(nodes: Sequence[Node]) -> Node:
    if not nodes:
        raise RuleError("empty 'or'")
    return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))


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


def _is_number(leaf: SigmaType) -> bool:
    return isinstance(leaf, SigmaNumber) and not isinstance(leaf, SigmaTimestampPart)


def _or_node(nodes: Sequence[object]) -> Node:
    """OR of nodes; string values of one field (or keywords) become one Strings node."""
    strings: dict[tuple[str | None, bool], list[StringPattern]] = {}
    numbers: dict[str, list[Number]] = {}
    others: list[Node] = []
    for node in _or_operands(nodes):
        if isinstance(node, ConditionFieldEqualsValueExpression):
            for leaf in _leaves(node.value):
                if isinstance(leaf, SigmaString):
                    cased = isinstance(leaf, SigmaCasedString)
                    pattern = to_pattern(leaf, cased=cased)
                    strings.setdefault((node.field, cased), []).append(pattern)
                elif _is_number(leaf):
                    numbers.setdefault(node.field, []).append(leaf.number)  # type: ignore[attr-defined]
                else:
                    others.append(field_leaf(node.field, leaf))
        elif isinstance(node, ConditionValueExpression):
            for leaf in _leaves(node.value):
                if isinstance(leaf, SigmaString):
                    cased = isinstance(leaf, SigmaCasedString)
                    pattern = to_pattern(leaf, cased=cased, anywhere=True)
                    strings.setdefault((None, cased), []).append(pattern)
                elif _is_number(leaf):
                    text = SigmaString(str(leaf.number))  # type: ignore[attr-defined]
                    strings.setdefault((None, False), []).append(to_pattern(text, anywhere=True))
                else:
                    others.append(keyword_leaf(leaf))
        else:
            others.append(condition_node(node))
    merged: list[Node] = [
        Strings(field, cased, tuple(dict.fromkeys(patterns)))
        for (field, cased), patterns in strings.items()
    ]
    merged += [Numbers(field, tuple(dict.fromkeys(values))) for field, values in numbers.items()]
    return _or_of(merged + others)


def _regex(field: str | None, value: SigmaRegularExpression) -> Regex:
    if value.regexp.contains_placeholder():
        raise RuleError("placeholder in regular expression is not supported (expand modifier)")
    flags = 0
    for flag in value.flags:
        flags |= _RE_FLAGS[flag]
    source = str(value.regexp)
    try:
        re.compile(source, flags)
    except re.error as e:
        raise RuleError(f"invalid regular expression {source!r}: {e}") from e
    return Regex(field, source, flags)


def field_leaf(field: str, value: SigmaType) -> Leaf:
    """A test of one field against one value that is not a plain string or number."""
    if isinstance(value, SigmaNull):
        return Null(field)
    if isinstance(value, SigmaExists):
        return Exists(field, value.exists)
    if isinstance(value, SigmaBool):
        return Bool(field, value.boolean)
    if isinstance(value, SigmaRegularExpression):
        return _regex(field, value)
    if isinstance(value, SigmaCIDRExpression):
        return Cidr(field, str(value.network))
    if isinstance(value, SigmaCompareExpression):
        return Compare(field, _COMPARE[value.op], value.number.number)
    if isinstance(value, SigmaFieldReference):
        mode: RefMode = "eq"
        if value.starts_with and value.ends_with:
            mode = "contains"
        elif value.starts_with:
            mode = "startswith"
        elif value.ends_with:
            mode = "endswith"
        return FieldRef(field, value.field, mode)
    raise RuleError(f"unsupported value type {type(value).__name__} for field {field!r}")


def keyword_leaf(value: SigmaType) -> Leaf:
    """A field-less value that is not a plain string or number."""
    if isinstance(value, SigmaRegularExpression):
        return _regex(None, value)
    raise RuleError(f"unsupported keyword value type {type(value).__name__}")

"""Sigma correlation rules, from pySigma's parse to :class:`Correlation`, references resolved.

    docs, sections = split_documents(text)        # YAML -> pySigma's dicts + the raw sections
    correlation = compile_correlation(sigma_rule, section, path=..., root=..., index=...)
    correlations, errors = resolve(correlations, rules)

pySigma 1.5.1 parses every correlation type but accepts one condition operator only,
while the specification defines ranges (``gt: 100`` and ``lte: 200``). Rather than
fork it, :func:`split_documents` hands pySigma each condition with its first operator
and keeps the whole section, from which the condition is compiled here. Anything
pySigma refuses stays refused. Beyond pySigma, the specification's requirements are
checked per type (``group-by`` for every type; a ``condition`` for the counting and
value types; ``field`` for the value types), and what the specification does not define
is refused with its reason: pySigma's boolean conditions over rule names, and a
``value_percentile`` without pySigma's ``percentile`` (the specification does not say
which percentile; pySigma's own backends refuse it too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import yaml
from sigma.correlations import SigmaCorrelationRule, SigmaExtendedCorrelationCondition

from soc.detect.correlation.model import (
    NUMERIC_TYPES,
    OPERATORS,
    VALUE_TYPES,
    Condition,
    Correlation,
    CorrelationType,
    Operator,
)
from soc.detect.rule import Rule
from soc.errors import RuleError
from soc.models import Severity, digest

_TEMPORAL = frozenset({CorrelationType.temporal, CorrelationType.temporal_ordered})


def split_documents(text: str) -> tuple[list[Any], list[Mapping[str, Any]]]:
    """The YAML documents for pySigma, and each correlation document's raw section.

    A condition with several operators reaches pySigma with its first one only; the
    section kept holds them all. Raises yaml.YAMLError as pySigma's own parse would, and
    RuleError for a counting correlation without condition (which pySigma cannot report).
    """
    docs = list(yaml.safe_load_all(text))
    sections: list[Mapping[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict) or "action" in doc or "correlation" not in doc:
            continue
        section = doc["correlation"]
        sections.append(section if isinstance(section, dict) else {})
        condition = section.get("condition") if isinstance(section, dict) else None
        kind = section.get("type") if isinstance(section, dict) else None
        if condition is None and isinstance(kind, str) and kind not in _TEMPORAL:
            # pySigma 1.5.1 fails on this with an UnboundLocalError, losing the reason
            raise RuleError(f"{kind} correlation without condition ({doc.get('title')!r})")
        if isinstance(condition, dict):
            operators = [k for k in condition if k in OPERATORS]
            if len(operators) > 1:
                doc["correlation"] = {
                    **section,
                    "condition": {k: v for k, v in condition.items() if k not in operators[1:]},
                }
    return docs, sections


def compile_correlation(
    rule: SigmaCorrelationRule,
    section: Mapping[str, Any],
    *,
    path: Path,
    root: Path,
    index: int,
) -> Correlation:
    """The correlation, references still as written; raises RuleError with the reason."""
    kind = CorrelationType(rule.type.name.lower())
    condition = _condition(kind, rule, section)
    group_by = tuple(rule.group_by or ())
    if not group_by:
        raise RuleError(
            f"{kind.value} correlation without group-by (the specification requires it)"
        )
    if not all(isinstance(g, str) for g in group_by):
        raise RuleError("group-by must list field names")
    references = tuple(r.reference for r in rule.rules or ())
    if not all(isinstance(r, str) for r in references):  # pySigma passes [[a]] on (tests/fuzz)
        raise RuleError("a correlation's rules must be rule ids or names")
    if not references:
        raise RuleError("correlation without rules")
    if len(set(references)) != len(references):
        raise RuleError("correlation lists a rule twice")
    if rule.id is not None:
        correlation_id = str(rule.id)
    else:
        correlation_id = digest("sigma-rule-path", path.relative_to(root).as_posix(), str(index))
    when = rule.modified or rule.date
    return Correlation(
        id=correlation_id,
        title=rule.title,
        name=rule.name,
        level=Severity(rule.level.name.lower()) if rule.level is not None else Severity.medium,
        tags=[f"{t.namespace}.{t.name}" for t in rule.tags],
        author=rule.author,
        version=when.isoformat() if when is not None else None,
        path=path,
        type=kind,
        references=references,
        timespan_s=int(rule.timespan.seconds),
        condition=condition,
        group_by=group_by,
        generate=bool(rule.generate),
        raw_aliases={
            alias.alias: {ref.reference: str(name) for ref, name in alias.mapping.items()}
            for alias in rule.aliases
        },
    )


def _condition(
    kind: CorrelationType, rule: SigmaCorrelationRule, section: Mapping[str, Any]
) -> Condition:
    if isinstance(rule.condition, SigmaExtendedCorrelationCondition):
        raise RuleError(
            "boolean correlation conditions over rule names are a pySigma extension, "
            "not in the Sigma correlation specification 2.1.0"
        )
    raw = section.get("condition")
    if raw is None:
        if kind not in _TEMPORAL:
            raise RuleError(f"{kind.value} correlation without condition")
        count = len(rule.rules or ())
        return Condition(bounds=(("gte", float(count)),))
    if not isinstance(raw, dict):
        raise RuleError("correlation condition must be a mapping")
    unknown = sorted(set(map(str, raw)) - {*OPERATORS, "field", "percentile"})
    if unknown:
        raise RuleError(f"correlation condition has unknown items: {', '.join(unknown)}")
    bounds: list[tuple[Operator, float]] = []
    for op in OPERATORS:
        if op in raw:
            limit = raw[op]
            if isinstance(limit, bool) or not isinstance(limit, int | float):
                raise RuleError(f"correlation condition {op}: {limit!r} is not a number")
            bounds.append((op, float(limit)))
    if not bounds:
        raise RuleError("correlation condition without an operator (gt, gte, lt, lte, eq, neq)")
    fields = _fields(kind, raw.get("field"))
    percentile = _percentile(kind, raw.get("percentile"))
    return Condition(bounds=tuple(bounds), fields=fields, percentile=percentile)


def _fields(kind: CorrelationType, given: Any) -> tuple[str, ...]:
    if given is None:
        if kind in VALUE_TYPES:
            raise RuleError(f"{kind.value} correlation without field in its condition")
        return ()
    if kind not in VALUE_TYPES:
        raise RuleError(f"{kind.value} correlation takes no field in its condition")
    names = [given] if isinstance(given, str) else given
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise RuleError("correlation condition field must be a field name or a list of them")
    if kind in NUMERIC_TYPES and len(names) != 1:
        raise RuleError(f"{kind.value} correlation takes one field, not {len(names)}")
    return tuple(cast(list[str], names))


def _percentile(kind: CorrelationType, given: Any) -> int | None:
    if kind is CorrelationType.value_median:
        if given is not None:
            raise RuleError("value_median takes no percentile (it is the 50th)")
        return 50
    if kind is not CorrelationType.value_percentile:
        if given is not None:
            raise RuleError(f"{kind.value} correlation takes no percentile")
        return None
    if given is None:
        raise RuleError(
            "value_percentile correlation without percentile in its condition (pySigma's key; "
            "the specification does not say which percentile)"
        )
    if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given <= 100:
        raise RuleError(f"correlation percentile {given!r} is not an integer from 0 to 100")
    return given


def resolve(
    correlations: Sequence[tuple[Correlation, Path]], rules: Sequence[Rule]
) -> tuple[list[Correlation], list[RuleError]]:
    """Resolve ids and names to rule or correlation ids; refuse what cannot be resolved.

    A reference names a rule or correlation by id, or by ``name`` when exactly one has it.
    Unknown or ambiguous references, aliases for rules the correlation does not reference,
    cycles, and correlations over a refused correlation are refused, each with its path.
    """
    by_id: dict[str, str] = {rule.id: "rule" for rule in rules}
    names: dict[str, list[str]] = {}
    for rule in rules:
        if rule.name:
            names.setdefault(rule.name, []).append(rule.id)
    errors: list[RuleError] = []
    candidates: dict[str, Correlation] = {}
    for correlation, path in correlations:
        if correlation.id in by_id:
            errors.append(RuleError(f"duplicate rule id {correlation.id}", path=path))
            continue
        by_id[correlation.id] = "correlation"
        candidates[correlation.id] = correlation
        if correlation.name:
            names.setdefault(correlation.name, []).append(correlation.id)

    def find(reference: str) -> str:
        if reference in by_id:
            return reference
        found = names.get(reference, [])
        if len(found) == 1:
            return found[0]
        if found:
            raise RuleError(f"rule name {reference!r} is ambiguous ({len(found)} rules have it)")
        raise RuleError(f"references unknown rule {reference!r} (not loaded, by id or name)")

    resolved: dict[str, Correlation] = {}
    for correlation in candidates.values():
        try:
            ids = tuple(find(ref) for ref in correlation.references)
            if len(set(ids)) != len(ids):
                raise RuleError("correlation references one rule twice (by id and by name)")
            aliases: dict[str, dict[str, str]] = {}
            for alias, mapping in correlation.raw_aliases.items():
                for reference, name in mapping.items():
                    target = find(reference)
                    if target not in ids:
                        raise RuleError(
                            f"alias {alias!r} names rule {reference!r}, "
                            "which the correlation does not reference"
                        )
                    aliases.setdefault(alias, {})[target] = name
        except RuleError as e:
            errors.append(RuleError(e.reason, path=correlation.path))
            continue
        resolved[correlation.id] = replace(correlation, rules=ids, aliases=aliases)
    for correlation_id in _unsound(resolved, {rule.id for rule in rules}):
        correlation = resolved.pop(correlation_id)
        errors.append(
            RuleError(
                "correlation is part of a reference cycle, or references a correlation "
                "that did not load",
                path=correlation.path,
            )
        )
    return list(resolved.values()), errors


def _unsound(resolved: Mapping[str, Correlation], rule_ids: set[str]) -> list[str]:
    """Correlations on a cycle, or referring (through others) to one that was refused."""
    state: dict[str, int] = {}  # 1: being visited, 2: sound, 3: unsound
    bad: list[str] = []

    def visit(cid: str) -> bool:
        if cid in state:
            return state[cid] == 2
        state[cid] = 1
        sound = True
        for ref in resolved[cid].rules:
            if ref in resolved:
                sound = visit(ref) and sound
            elif ref not in rule_ids:
                sound = False
        state[cid] = 2 if sound else 3
        if not sound:
            bad.append(cid)
        return sound

    for cid in resolved:
        visit(cid)
    return bad

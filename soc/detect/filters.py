"""Sigma filters loaded beside the rules: compiled as rules are, then tied to the rules they name.

    filters, errors = load_filters(collection.filters, path, root, pipelines)      # per file
    filters, errors = resolve_filters(filters, rules)                               # per rule set

A filter's ``filter:`` section (its detections and condition) is turned into a
pySigma rule with the filter's logsource and goes through the same processing
pipelines and the same compiler (soc.detect.ir, soc.detect.compile) as a
detection rule, so every modifier a rule may use works in a filter. Pipelines
that map fields by logsource see the filter's own logsource: give a filter
the logsource its rules have.

Each reference in ``rules`` is a rule id or a rule's ``name:`` (Sigma v2).
``rules: any`` (or an empty list; pySigma's reading, not in the schema) means
every loaded rule whose logsource the filter's contains. Per the specification
and pySigma, a filter applies to a rule only when the filter's logsource
contains the rule's: each part (product, category, service) the filter sets
equals the rule's, case-insensitively.

The ``tenants`` attribute (a tenant name or a list of them) is the project's
extension: the filter applies to those tenants' events only; without it, to
every tenant's.

A filter pySigma refuses or that cannot compile, a duplicate filter id, a
reference that names no loaded rule (or a name several rules share), a named
rule outside the filter's logsource, and an unusable ``tenants`` value are
each a RuleError with the filter's path: the filter is not applied at all,
never half.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.rule import SigmaDetections, SigmaRule

from soc.detect.compile import build
from soc.detect.filter import Filter
from soc.detect.ir import rule_condition, sigma_reason
from soc.detect.pipelines import Pipelines
from soc.detect.rule import Rule
from soc.errors import RuleError
from soc.models import LogSource, digest
from soc.settings import TENANT_NAME

TENANTS_ATTRIBUTE = "tenants"
"""The filter attribute (not in the specification) that scopes a filter to tenants."""


def compile_filter(
    sigma_filter: SigmaFilter, *, path: Path, root: Path, index: int, pipelines: Pipelines
) -> Filter:
    """The compiled filter, not yet tied to rules; raises RuleError saying why it cannot be."""
    if sigma_filter.errors:
        raise RuleError("; ".join(sigma_reason(e) for e in sigma_filter.errors))
    tenants = _tenants(sigma_filter.custom_attributes.get(TENANTS_ATTRIBUTE))
    ls = sigma_filter.logsource
    detection = sigma_filter.filter
    rule = SigmaRule(
        title=sigma_filter.title,
        id=sigma_filter.id,
        logsource=ls,
        detection=SigmaDetections(detections=detection.detections, condition=detection.condition),
    )
    pipelines.apply(rule)  # the same field mappings and placeholders as the rules get
    condition = rule_condition(rule)
    matches = build(condition)
    refs = detection.rules
    if sigma_filter.id is not None:
        filter_id = str(sigma_filter.id)
    else:
        filter_id = digest("sigma-filter-path", path.relative_to(root).as_posix(), str(index))
    when = sigma_filter.modified or sigma_filter.date
    return Filter(
        id=filter_id,
        title=sigma_filter.title,
        description=sigma_filter.description,
        path=path,
        logsource=LogSource(product=ls.product, category=ls.category, service=ls.service),
        refs=None if isinstance(refs, str) else tuple(r.reference for r in refs),
        tenants=tenants,
        matches=matches,
        condition=condition,
        version=when.isoformat() if when is not None else None,
    )


def load_filters(
    found: Sequence[SigmaFilter], path: Path, root: Path, pipelines: Pipelines
) -> tuple[list[Filter], list[RuleError]]:
    """The file's Sigma filters compiled (not yet tied to rules), and an error for each other."""
    filters: list[Filter] = []
    errors: list[RuleError] = []
    for index, sigma_filter in enumerate(found):
        try:
            filters.append(
                compile_filter(sigma_filter, path=path, root=root, index=index, pipelines=pipelines)
            )
        except (RuleError, SigmaError) as e:
            reason = e.reason if isinstance(e, RuleError) else sigma_reason(e)
            errors.append(RuleError(f"filter {sigma_filter.title!r}: {reason}", path=path))
        except Exception as e:  # a compiler bug must cost one filter, not the whole set
            reason = f"cannot compile: {type(e).__name__}: {e}"
            errors.append(RuleError(f"filter {sigma_filter.title!r}: {reason}", path=path))
    return filters, errors


def _tenants(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise RuleError(f"{TENANTS_ATTRIBUTE!r} must be a tenant name or a list of them")
    bad = [n for n in names if not isinstance(n, str) or not re.fullmatch(TENANT_NAME, n)]
    if bad:
        raise RuleError(f"{TENANTS_ATTRIBUTE!r}: not a tenant name: {bad[0]!r}")
    return frozenset(names)


def contains(outer: LogSource, inner: LogSource) -> bool:
    """Whether ``outer`` contains ``inner``: each part ``outer`` sets equals inner's (any case)."""
    return all(
        o is None or (i is not None and o.lower() == i.lower())
        for o, i in (
            (outer.product, inner.product),
            (outer.category, inner.category),
            (outer.service, inner.service),
        )
    )


def resolve_filters(
    filters: Sequence[Filter], rules: Sequence[Rule]
) -> tuple[list[Filter], list[RuleError]]:
    """The filters with ``rule_ids`` set, and an error for each filter that cannot apply."""
    by_id = {rule.id: rule for rule in rules}
    by_name: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.name is not None:
            by_name.setdefault(rule.name, []).append(rule)
    resolved: list[Filter] = []
    errors: list[RuleError] = []
    seen: dict[str, Path] = {}
    for f in filters:
        if f.id in seen:
            errors.append(
                RuleError(f"duplicate filter id {f.id}, first in {seen[f.id]}", path=f.path)
            )
            continue
        seen[f.id] = f.path
        try:
            ids = _rule_ids(f, rules, by_id, by_name)
        except RuleError as e:
            errors.append(RuleError(f"filter {f.title!r}: {e.reason}", path=f.path))
            continue
        resolved.append(dataclasses.replace(f, rule_ids=frozenset(ids)))
    return resolved, errors


def _rule_ids(
    f: Filter, rules: Sequence[Rule], by_id: dict[str, Rule], by_name: dict[str, list[Rule]]
) -> list[str]:
    if f.refs is None:
        return [rule.id for rule in rules if contains(f.logsource, rule.logsource)]
    ids: list[str] = []
    for ref in f.refs:
        named = [by_id[ref]] if ref in by_id else by_name.get(ref, [])
        if not named:
            raise RuleError(f"no loaded rule has the id or name {ref!r}")
        if len(named) > 1:
            raise RuleError(f"the name {ref!r} is shared by {len(named)} rules")
        (rule,) = named
        if not contains(f.logsource, rule.logsource):
            raise RuleError(
                f"rule {ref!r} ({_show(rule.logsource)}) is outside the filter's logsource"
                f" ({_show(f.logsource)})"
            )
        ids.append(rule.id)
    return ids


def _show(ls: LogSource) -> str:
    parts = {"product": ls.product, "category": ls.category, "service": ls.service}
    return ", ".join(f"{k}: {v}" for k, v in parts.items() if v) or "no logsource"

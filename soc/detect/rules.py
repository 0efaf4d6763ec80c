"""Sigma rules from YAML files, compiled for the engine; every failure kept with its path.

    load_rules(paths) -> RuleSet(rules=(Rule, ...), errors=(RuleError, ...), filters=(...),
                                 correlations=(Correlation, ...))  # rule.py

Every ``*.yml`` / ``*.yaml`` file under the given files and folders (folders
recursively, in sorted order, so the engine's order is stable) is parsed on its
own with pySigma's ``SigmaCollection`` (``collect_errors=True``), so each error
names the file it came from. A file that cannot be read or parsed, a rule
pySigma refuses, a rule whose condition or values cannot be compiled, a
duplicate rule id, and a correlation rule that cannot be compiled or resolved
(soc.detect.correlation.compile) each become one RuleError in ``RuleSet.errors``:
nothing is skipped silently. Sigma filters in the same files and folders are compiled
the same way and, once every file is loaded, tied to the rules they name
(soc.detect.filters); a filter that cannot be is one RuleError too. Correlation rules
refer to rules by id or ``name`` across all the files loaded, so they are resolved last.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

from soc.detect.cache import Loaded, RuleCache, load_cached
from soc.detect.compile import build, sigma_reason
from soc.detect.correlation.compile import compile_correlation, resolve, split_documents
from soc.detect.correlation.model import Correlation
from soc.detect.filter import Filter
from soc.detect.filters import load_filters, resolve_filters
from soc.detect.ir import rule_condition
from soc.detect.pipelines import NO_PIPELINES, Pipelines, load_pipelines
from soc.detect.rule import Rule, RuleSet
from soc.errors import RuleError
from soc.log import get_logger
from soc.metrics import RULES_FAILED, RULES_LOADED
from soc.models import LogSource, Severity, digest
from soc.yamltext import check_depth

log = get_logger(__name__)

RULE_SUFFIXES = (".yml", ".yaml")


def load_rules(
    paths: Sequence[Path | str],
    *,
    cache_dir: Path | str | None = None,
    pipelines: Sequence[Path | str] = (),
) -> RuleSet:
    """Load and compile every rule under ``paths``; see the module docstring.

    With ``cache_dir``, each file's compiled rules are cached there (soc.detect.cache)
    and a file whose bytes are unchanged is not parsed with pySigma again.
    """
    rules: list[Rule] = []
    filters: list[Filter] = []
    errors: list[RuleError] = []
    correlations: list[tuple[Correlation, Path]] = []
    seen: dict[str, Path] = {}
    # Processing pipelines (soc.detect.pipelines) transform each rule before it compiles;
    # a pipeline file that cannot be used raises ConfigError here, before any rule loads.
    piped = load_pipelines(pipelines)
    load = partial(_load_file, pipelines=piped)
    cache = RuleCache(cache_dir, pipelines=piped.identity) if cache_dir is not None else None
    for path, root in _rule_files(paths, errors):
        loaded = load_cached(path, root, load=load, cache=cache)
        file_rules, file_filters, file_errors, file_correlations = loaded
        errors += file_errors
        filters += file_filters
        correlations += [(c, path) for c in file_correlations]
        for rule in file_rules:
            if rule.id in seen:
                errors.append(
                    RuleError(f"duplicate rule id {rule.id}, first in {seen[rule.id]}", path=path)
                )
                continue
            seen[rule.id] = path
            rules.append(rule)
    ruleset = link(rules, filters, correlations, errors)
    for error in ruleset.errors:
        log.debug("rule refused", extra={"path": error.path, "reason": error.reason})
    RULES_LOADED.set(len(ruleset.rules) + len(ruleset.correlations))
    RULES_FAILED.set(len(ruleset.errors))
    return ruleset


def link(
    rules: Sequence[Rule],
    filters: Sequence[Filter],
    correlations: Sequence[tuple[Correlation, Path]],
    errors: Sequence[RuleError] = (),
) -> RuleSet:
    """One rule set from compiled parts: filters tied to the rules they name, correlations'
    references resolved, across every part (a filter or correlation may name a rule of
    another file, or of another record of the rule catalog: soc.detect.live)."""
    tied, filter_errors = resolve_filters(filters, rules)
    resolved, refused = resolve(correlations, rules)
    return RuleSet(
        rules=tuple(rules),
        errors=(*errors, *filter_errors, *refused),
        filters=tuple(tied),
        correlations=tuple(resolved),
    )


def _rule_files(
    paths: Sequence[Path | str], errors: list[RuleError]
) -> Iterator[tuple[Path, Path]]:
    """(file, root) for every rule file; root is what ids of id-less rules are relative to."""
    done: set[Path] = set()
    for given in map(Path, paths):
        if given.is_dir():
            root = given
            files = sorted(
                p for p in given.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()
            )
        elif given.is_file():
            root, files = given.parent, [given]
        else:
            errors.append(RuleError("no such file or directory", path=given))
            continue
        for file in files:
            key = file.resolve()
            if key not in done:
                done.add(key)
                yield file, root


def load_rule_text(text: str, *, name: str, pipelines: Sequence[Path | str] = ()) -> RuleSet:
    """Compile rules given as YAML text (pasted or uploaded) exactly as files are compiled.

    ``name`` stands for the file (``hunt-<sha256>.yml``): errors name it, and a rule
    without an id gets its id from it, as a file's id-less rules get theirs from their path.
    """
    rules, filters, errors, found = compile_rule_text(text, name=name, pipelines=pipelines)
    return link(rules, filters, [(c, Path(name)) for c in found], errors)


def compile_rule_text(text: str, *, name: str, pipelines: Sequence[Path | str] = ()) -> Loaded:
    """The rules, filters, errors and correlations of ``text``, not linked yet (:func:`link`):
    a filter or correlation in it may name rules that another text holds."""
    path = Path(name)
    return _load_text(text, path, path.parent, pipelines=load_pipelines(pipelines))


def _parse_file(path: Path) -> tuple[SigmaCollection, list[Mapping[str, Any]]]:
    """Parse one file; raises RuleError when the file as a whole is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError(f"cannot read file: {e}", path=path) from e
    return _parse_text(text, path)


def _parse_text(text: str, path: Path) -> tuple[SigmaCollection, list[Mapping[str, Any]]]:
    """pySigma's collection, and each correlation document's raw section (in order)."""
    try:
        check_depth(text)
        docs, sections = split_documents(text) if "correlation" in text else (None, [])
        collection: SigmaCollection = SigmaCollection.from_dicts(
            docs if docs is not None else list(yaml.safe_load_all(text)),
            collect_errors=True,
            source=SigmaRuleLocation(path),
            collect_filters=True,
            resolve_references=False,
        )
    except yaml.YAMLError as e:
        raise RuleError(f"invalid YAML: {e}", path=path) from e
    except RuleError as e:
        raise RuleError(e.reason, path=path) from e
    except SigmaError as e:
        raise RuleError(sigma_reason(e), path=path) from e
    except Exception as e:  # pySigma raises bare TypeError/AttributeError on odd documents
        raise RuleError(f"not a Sigma rule file: {type(e).__name__}: {e}", path=path) from e
    return collection, sections


def _load_file(path: Path, root: Path, *, pipelines: Pipelines = NO_PIPELINES) -> Loaded:
    try:
        collection, sections = _parse_file(path)
    except RuleError as e:
        return [], [], [e], []
    return _load_collection(collection, sections, path, root, pipelines)


def _load_text(text: str, path: Path, root: Path, *, pipelines: Pipelines) -> Loaded:
    try:
        collection, sections = _parse_text(text, path)
    except RuleError as e:
        return [], [], [e], []
    return _load_collection(collection, sections, path, root, pipelines)


def _load_collection(
    collection: SigmaCollection,
    sections: list[Mapping[str, Any]],
    path: Path,
    root: Path,
    pipelines: Pipelines,
) -> Loaded:
    rules: list[Rule] = []
    correlations: list[Correlation] = []
    raw_sections = iter(sections)
    filters, errors = load_filters(collection.filters, path, root, pipelines)
    attached = {id(e) for r in (*collection.rules, *collection.filters) for e in r.errors}
    errors += [
        RuleError(sigma_reason(e), path=path) for e in collection.errors if id(e) not in attached
    ]
    for index, sigma_rule in enumerate(collection.rules):
        if isinstance(sigma_rule, SigmaCorrelationRule):
            section = next(raw_sections, {})
            if sigma_rule.errors:
                reason = "; ".join(sigma_reason(e) for e in sigma_rule.errors)
                errors.append(RuleError(reason, path=path))
                continue
            try:
                correlations.append(
                    compile_correlation(sigma_rule, section, path=path, root=root, index=index)
                )
            except RuleError as e:
                errors.append(RuleError(e.reason, path=path))
        elif not isinstance(sigma_rule, SigmaRule):  # pragma: no cover - pySigma has no other
            reason = f"unsupported rule type {type(sigma_rule).__name__}"
            errors.append(RuleError(reason, path=path))
        elif sigma_rule.errors:
            reason = "; ".join(sigma_reason(e) for e in sigma_rule.errors)
            errors.append(RuleError(reason, path=path))
        else:
            try:
                pipelines.apply(sigma_rule)  # rule-side field mappings and placeholders
                rules.append(_make_rule(sigma_rule, path=path, root=root, index=index))
            except RuleError as e:
                errors.append(RuleError(e.reason, path=path))
            except SigmaError as e:
                errors.append(RuleError(sigma_reason(e), path=path))
            except Exception as e:  # a compiler bug must cost one rule, not the whole set
                errors.append(RuleError(f"cannot compile: {type(e).__name__}: {e}", path=path))
    return rules, filters, errors, correlations


def _make_rule(rule: SigmaRule, *, path: Path, root: Path, index: int) -> Rule:
    condition = rule_condition(rule)
    matches = build(condition)
    if rule.id is not None:
        rule_id = str(rule.id)
    else:
        rule_id = digest("sigma-rule-path", path.relative_to(root).as_posix(), str(index))
    when = rule.modified or rule.date
    ls = rule.logsource
    return Rule(
        id=rule_id,
        title=rule.title,
        level=Severity(rule.level.name.lower()) if rule.level is not None else Severity.medium,
        tags=[f"{t.namespace}.{t.name}" for t in rule.tags],
        version=when.isoformat() if when is not None else None,
        path=path,
        logsource=LogSource(product=ls.product, category=ls.category, service=ls.service),
        author=rule.author,
        matches=matches,
        condition=condition,
        name=rule.name,
    )

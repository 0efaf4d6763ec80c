"""Sigma rules from YAML files, compiled for the engine; every failure kept with its path.

    load_rules(paths) -> RuleSet(rules=(Rule, ...), errors=(RuleError, ...))  # rule.py

Every ``*.yml`` / ``*.yaml`` file under the given files and folders (folders
recursively, in sorted order, so the engine's order is stable) is parsed on its
own with pySigma's ``SigmaCollection`` (``collect_errors=True``), so each error
names the file it came from. A file that cannot be read or parsed, a rule
pySigma refuses, a rule whose condition or values cannot be compiled, a
duplicate rule id, and a correlation rule or a filter (not supported yet) each
become one RuleError in ``RuleSet.errors``: nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

from soc.detect.cache import RuleCache, load_cached
from soc.detect.compile import build, sigma_reason
from soc.detect.ir import rule_condition
from soc.detect.pipelines import NO_PIPELINES, Pipelines, load_pipelines
from soc.detect.rule import Rule, RuleSet
from soc.errors import RuleError
from soc.log import get_logger
from soc.metrics import RULES_FAILED, RULES_LOADED
from soc.models import LogSource, Severity, digest

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
    errors: list[RuleError] = []
    seen: dict[str, Path] = {}
    # Processing pipelines (soc.detect.pipelines) transform each rule before it compiles;
    # a pipeline file that cannot be used raises ConfigError here, before any rule loads.
    piped = load_pipelines(pipelines)
    load = partial(_load_file, pipelines=piped)
    cache = RuleCache(cache_dir, pipelines=piped.identity) if cache_dir is not None else None
    for path, root in _rule_files(paths, errors):
        file_rules, file_errors = load_cached(path, root, load=load, cache=cache)
        errors += file_errors
        for rule in file_rules:
            if rule.id in seen:
                errors.append(
                    RuleError(f"duplicate rule id {rule.id}, first in {seen[rule.id]}", path=path)
                )
                continue
            seen[rule.id] = path
            rules.append(rule)
    for error in errors:
        log.debug("rule refused", extra={"path": error.path, "reason": error.reason})
    RULES_LOADED.set(len(rules))
    RULES_FAILED.set(len(errors))
    return RuleSet(rules=tuple(rules), errors=tuple(errors))


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
    path = Path(name)
    rules, errors = _load_text(text, path, path.parent, pipelines=load_pipelines(pipelines))
    return RuleSet(rules=tuple(rules), errors=tuple(errors))


def _parse_file(path: Path) -> SigmaCollection:
    """Parse one file; raises RuleError when the file as a whole is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RuleError(f"cannot read file: {e}", path=path) from e
    return _parse_text(text, path)


def _parse_text(text: str, path: Path) -> SigmaCollection:
    try:
        collection: SigmaCollection = SigmaCollection.from_yaml(
            text,
            collect_errors=True,
            source=SigmaRuleLocation(path),
            collect_filters=True,
            resolve_references=False,
        )
    except yaml.YAMLError as e:
        raise RuleError(f"invalid YAML: {e}", path=path) from e
    except SigmaError as e:
        raise RuleError(sigma_reason(e), path=path) from e
    except Exception as e:  # pySigma raises bare TypeError/AttributeError on odd documents
        raise RuleError(f"not a Sigma rule file: {type(e).__name__}: {e}", path=path) from e
    return collection


def _load_file(
    path: Path, root: Path, *, pipelines: Pipelines = NO_PIPELINES
) -> tuple[list[Rule], list[RuleError]]:
    try:
        collection = _parse_file(path)
    except RuleError as e:
        return [], [e]
    return _load_collection(collection, path, root, pipelines)


def _load_text(
    text: str, path: Path, root: Path, *, pipelines: Pipelines
) -> tuple[list[Rule], list[RuleError]]:
    try:
        collection = _parse_text(text, path)
    except RuleError as e:
        return [], [e]
    return _load_collection(collection, path, root, pipelines)


def _load_collection(
    collection: SigmaCollection, path: Path, root: Path, pipelines: Pipelines
) -> tuple[list[Rule], list[RuleError]]:
    rules: list[Rule] = []
    errors = [
        RuleError(f"Sigma filters are not supported yet ({f.title!r})", path=path)
        for f in collection.filters
    ]
    attached = {id(e) for r in collection.rules for e in r.errors}
    errors += [
        RuleError(sigma_reason(e), path=path) for e in collection.errors if id(e) not in attached
    ]
    for index, sigma_rule in enumerate(collection.rules):
        if isinstance(sigma_rule, SigmaCorrelationRule):
            reason = f"correlation rules are not supported yet ({sigma_rule.title!r})"
            errors.append(RuleError(reason, path=path))
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
    return rules, errors


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
    )

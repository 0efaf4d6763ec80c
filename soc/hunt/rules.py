"""The rules a retro-hunt runs: loaded ones by id, or YAML text, compiled as the detector does.

    chosen = hunt_rules(settings.detect, ids=["a49fa4d5-..."])      # from the loaded rule files
    chosen = hunt_rules(settings.detect, text=pasted_yaml)           # new rules, not on disk

Both go through :mod:`soc.detect.rules` with the pipelines of ``DetectSettings``, so a
hunt's rule is compiled exactly as the streaming detector compiles it, and its alerts
get the same ids. The Sigma filters loaded with the rules (those of the configured rule
files for rules chosen by id, those of the files or text given otherwise) apply as they
do in the detector. Sigma correlation rules come with them: those in the text or files
given (their base rules must be there too, as a rule file must hold what a correlation
names), and a loaded correlation chosen by id brings the rules (and correlations) it
references. A rule that does not compile, an unknown id, or text without a rule
is a :class:`~soc.errors.QueryError` (HTTP 400) saying why: a hunt never runs half its
rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from soc.detect.correlation.model import Correlation
from soc.detect.engine import Engine
from soc.detect.filter import Filter
from soc.detect.rule import Rule, RuleSet
from soc.detect.rules import load_rule_text, load_rules
from soc.errors import QueryError
from soc.ingest.normalize import known_logsources
from soc.settings import DetectSettings

MAX_RULE_TEXT = 1_000_000
"""Characters of pasted YAML accepted (a SigmaHQ rule is a few kilobytes)."""
MAX_ERRORS_SHOWN = 5


@dataclass(frozen=True)
class HuntRules:
    """Compiled rules and what identifies them in a hunt's record and audit entry."""

    rules: tuple[Rule, ...]
    sha256: str
    """SHA-256 of the rule text: the pasted YAML, or the bytes of the rule (and filter)
    files used."""
    text: str | None = None
    """The pasted YAML, kept with the hunt (None for rules loaded by id)."""
    filters: tuple[Filter, ...] = ()
    """The Sigma filters loaded with the rules (those of the rule files, or of the text)."""
    correlations: tuple[Correlation, ...] = ()
    """The Sigma correlation rules, each with every rule it references among ``rules``."""

    def engine(self) -> Engine:
        """The streaming engine over these rules, their filters and correlations, its routes
        built for the known logsources."""
        engine = Engine(self.rules, filters=self.filters, correlations=self.correlations)
        engine.prepare(known_logsources())
        return engine

    @property
    def named(self) -> list[tuple[str, str]]:
        """(id, title) of every rule and correlation, as a hunt's record lists them."""
        return [(r.id, r.title) for r in self.rules] + [(c.id, c.title) for c in self.correlations]


def hunt_rules(
    settings: DetectSettings,
    *,
    ids: Sequence[str] = (),
    text: str | None = None,
    files: Sequence[Path] = (),
) -> HuntRules:
    """The rules named by ``ids`` among the configured rule files, compiled from ``text``,
    or from rule ``files`` (and folders), with the settings' pipelines; ids and files mix."""
    if files and text is None:
        return _from_files(settings, files, ids)
    if bool(ids) == (text is not None):
        raise QueryError("give either rule ids or rule text, not both, not neither")
    if text is not None:
        return _from_text(settings, text)
    return _by_ids(settings, ids)


def _from_text(settings: DetectSettings, text: str) -> HuntRules:
    if len(text) > MAX_RULE_TEXT:
        raise QueryError(f"rule text longer than {MAX_RULE_TEXT:,} characters")
    sha = hashlib.sha256(text.encode()).hexdigest()
    ruleset = load_rule_text(text, name=f"hunt-{sha[:16]}.yml", pipelines=settings.pipelines)
    if ruleset.errors:
        reasons = "; ".join(e.reason for e in ruleset.errors[:MAX_ERRORS_SHOWN])
        more = len(ruleset.errors) - MAX_ERRORS_SHOWN
        raise QueryError(
            f"the rule does not compile: {reasons}" + (f" (and {more} more)" if more > 0 else "")
        )
    if not ruleset.rules:
        raise QueryError("the rule text holds no Sigma rule")
    return HuntRules(
        rules=ruleset.rules,
        sha256=sha,
        text=text,
        filters=ruleset.filters,
        correlations=ruleset.correlations,
    )


def _from_files(settings: DetectSettings, files: Sequence[Path], ids: Sequence[str]) -> HuntRules:
    ruleset = load_rules(files, pipelines=settings.pipelines)
    if ruleset.errors:
        reasons = "; ".join(f"{e.path}: {e.reason}" for e in ruleset.errors[:MAX_ERRORS_SHOWN])
        raise QueryError(f"a rule does not compile: {reasons}")
    loaded = _by_ids(settings, ids) if ids else HuntRules(rules=(), sha256="")
    rules = tuple({r.id: r for r in (*ruleset.rules, *loaded.rules)}.values())
    if not rules:
        raise QueryError("no Sigma rule in the files given")
    filters = (*ruleset.filters, *loaded.filters)
    correlations = tuple({c.id: c for c in (*ruleset.correlations, *loaded.correlations)}.values())
    return HuntRules(
        rules=rules,
        sha256=_files_sha256(rules, filters, correlations),
        filters=filters,
        correlations=correlations,
    )


def _files_sha256(
    rules: Sequence[Rule], filters: Sequence[Filter] = (), correlations: Sequence[Correlation] = ()
) -> str:
    """Over the files of the rules, of the correlations and of the filters that apply."""
    ids = {rule.id for rule in rules}
    paths = (
        {rule.path for rule in rules}
        | {f.path for f in filters if f.rule_ids & ids}
        | {c.path for c in correlations}
    )
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _by_ids(settings: DetectSettings, ids: Sequence[str]) -> HuntRules:
    ruleset = load_rules(settings.rules, cache_dir=settings.cache_dir, pipelines=settings.pipelines)
    by_id = {rule.id: rule for rule in ruleset.rules}
    correlations = {c.id: c for c in ruleset.correlations}
    missing = [i for i in ids if i not in by_id and i not in correlations]
    if missing:
        raise QueryError(f"no loaded rule has the id {', '.join(missing[:MAX_ERRORS_SHOWN])}")
    wanted = _with_references(ruleset, ids)
    chosen = tuple(by_id[i] for i in wanted if i in by_id)
    chained = tuple(correlations[i] for i in wanted if i in correlations)
    filters = ruleset.filters
    return HuntRules(
        rules=chosen,
        sha256=_files_sha256(chosen, filters, chained),
        filters=filters,
        correlations=chained,
    )


def _with_references(ruleset: RuleSet, ids: Sequence[str]) -> list[str]:
    """``ids`` and, for each correlation among them, the ids it references (transitively)."""
    correlations = {c.id: c for c in ruleset.correlations}
    wanted: dict[str, None] = {}
    todo = list(ids)
    while todo:
        rule_id = todo.pop(0)
        if rule_id in wanted:
            continue
        wanted[rule_id] = None
        if rule_id in correlations:
            todo += correlations[rule_id].rules
    return list(wanted)

"""The detector's rules, read from the catalog and swapped whole when the catalog changes.

    live = LiveRules(catalog, settings.detect)
    await live.load()                 # at start: read and compile every rule
    loaded = live.current             # a batch takes this once and matches with it only
    await live.refresh()              # the reloader's tick (soc.stages.rules): cheap when unchanged

:class:`LoadedRules` is immutable: an engine over every rule enabled for at least one
tenant, each rule's catalog revision (which alerts record), and the enablement of the
rules that are not on for every tenant. Matching costs what the engine's does; the
per-tenant check runs only on a rule that matched, and only for rules with overrides.

A refresh reads the catalog's generation (one record); when it moved, it reads every rule
record and compiles, off the event loop (``asyncio.to_thread``), only the texts it has not
compiled before (by SHA-256, in memory; and through the rule cache on disk, by name and
text, when ``detect.cache_dir`` is set), then replaces :attr:`LiveRules.current` in one
assignment. A batch in flight keeps the engine it started with. A refresh that fails
(store down) keeps the rules in use and is counted in ``soc_rules_reloads_total{result}``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from soc.detect.cache import Loaded, RuleCache
from soc.detect.catalog import RuleCatalog, RuleEntry
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.model import Correlation
from soc.detect.engine import Engine
from soc.detect.filter import Filter
from soc.detect.pipelines import load_pipelines
from soc.detect.rule import Rule, RuleSet
from soc.detect.rules import compile_rule_text, link
from soc.errors import RuleError
from soc.ingest.normalize import known_logsources
from soc.log import get_logger
from soc.metrics import RULES_FAILED, RULES_LOADED, RULES_RELOADS
from soc.models import Event
from soc.settings import DetectSettings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Gate:
    """Who a rule is on for, when not for every tenant."""

    default: bool
    tenants: Mapping[str, bool]

    def allows(self, tenant: str) -> bool:
        return self.tenants.get(tenant, self.default)


@dataclass(frozen=True)
class LoadedRules:
    """One compiled state of the catalog: what a batch is matched with."""

    engine: Engine
    revisions: Mapping[str, int] = field(default_factory=dict)
    gates: Mapping[str, Gate] = field(default_factory=dict)
    generation: int = 0
    errors: tuple[RuleError, ...] = ()
    correlations: Correlations = field(default_factory=Correlations)
    """The correlations on for at least one tenant (the detector publishes their matches)."""

    @classmethod
    def fixed(cls, engine: Engine) -> LoadedRules:
        """Rules compiled from files, not managed in the catalog (no revisions, all on)."""
        return cls(
            engine=engine, errors=engine.errors, correlations=Correlations(engine.correlations)
        )

    def allows(self, rule_id: str, tenant: str) -> bool:
        """Whether the rule or correlation is on for ``tenant``."""
        gate = self.gates.get(rule_id)
        return gate is None or gate.allows(tenant)

    def match(self, event: Event) -> list[Rule]:
        """The rules that fire on ``event`` and are on for its tenant."""
        rules = self.engine.match(event)
        if rules and self.gates:
            gates = self.gates
            tenant = event.tenant
            return [r for r in rules if (g := gates.get(r.id)) is None or g.allows(tenant)]
        return rules


def pick(rules: Sequence[Rule], rule_id: str) -> Rule | None:
    """The rule of a record's text: the one with its id; a lone id-less rule takes it."""
    for rule in rules:
        if rule.id == rule_id:
            return rule
    if len(rules) == 1:
        return dataclasses.replace(rules[0], id=rule_id)
    return None


class Compiler:
    """Compiles rule texts with the settings' pipelines, remembering each text's result."""

    def __init__(self, settings: DetectSettings) -> None:
        self._pipelines = settings.pipelines
        self.memo_bytes = settings.memo_mb * 2**20
        """The memo budget of the engines built with this compiler (settings.memo_mb)."""
        identity = load_pipelines(settings.pipelines).identity
        self._cache = (
            RuleCache(settings.cache_dir, pipelines=identity) if settings.cache_dir else None
        )
        self._done: dict[str, Loaded] = {}

    def compile(self, entry: RuleEntry) -> Loaded:
        """The text of ``entry`` compiled, not linked (named by its file, or by its id when
        uploaded): its rules, filters, errors and correlations."""
        name = _name(entry)
        key = f"{entry.sha256}\0{name}"
        done = self._done.get(key)
        if done is not None:
            return done
        loaded = self._cached(entry.yaml, name)
        self._done[key] = loaded
        return loaded

    def _cached(self, text: str, name: str) -> Loaded:
        if self._cache is None:
            return compile_rule_text(text, name=name, pipelines=self._pipelines)
        key = self._cache.key(name, text.encode())
        hit = self._cache.get(key, Path(name))
        if hit is not None:
            return hit
        loaded = compile_rule_text(text, name=name, pipelines=self._pipelines)
        rules, filters, _, correlations = loaded
        compiled = [r.condition for r in rules] + [f.condition for f in filters]
        if not correlations and all(c is not None for c in compiled):
            self._cache.put(key, loaded)
        return loaded

    def forget_except(self, entries: Sequence[RuleEntry]) -> None:
        """Drop the results of texts no rule holds any more."""
        keep = {f"{e.sha256}\0{_name(e)}" for e in entries}
        for key in list(self._done):
            if key not in keep:
                del self._done[key]


@dataclass(frozen=True)
class LinkedCatalog:
    """Every record of the catalog compiled and linked as one set, with its enablement."""

    ruleset: RuleSet
    revisions: Mapping[str, int]
    gates: Mapping[str, Gate]
    """Records on for some tenants only."""
    off: frozenset[str]
    """Records off for every tenant."""


def link_catalog(entries: Sequence[RuleEntry], compiler: Compiler) -> LinkedCatalog:
    """Compile each record's text on its own (remembered by ``compiler``), then link every
    part as one set (:func:`soc.detect.rules.link`), so a filter or a correlation may name
    rules of other records; records off for every tenant are linked too (CPU work: run it
    off the loop)."""
    rules: list[Rule] = []
    filters: list[Filter] = []
    correlations: list[tuple[Correlation, Path]] = []
    errors: list[RuleError] = []
    revisions: dict[str, int] = {}
    gates: dict[str, Gate] = {}
    off: set[str] = set()
    for entry in sorted(entries, key=lambda e: (e.path or "~", e.id)):
        found_rules, found_filters, found_errors, found_correlations = compiler.compile(entry)
        item: Rule | Filter | Correlation | None
        if entry.kind == "rule":
            item = pick(found_rules, entry.id)
        elif entry.kind == "filter":
            item = next((f for f in found_filters if f.id == entry.id), None)
        else:
            item = next((c for c in found_correlations if c.id == entry.id), None)
        if item is None:
            reasons = [e.reason for e in found_errors] or [f"no {entry.kind} {entry.id} in it"]
            errors.append(RuleError(f"rule {entry.id}: {'; '.join(reasons)}", path=entry.path))
            continue
        if isinstance(item, Rule):
            rules.append(item)
        elif isinstance(item, Filter):
            filters.append(item)
        else:
            correlations.append((item, Path(_name(entry))))
        revisions[entry.id] = entry.revision
        if not entry.anywhere:
            off.add(entry.id)
        elif not entry.enabled or entry.tenants:
            gates[entry.id] = Gate(default=entry.enabled, tenants=dict(entry.tenants))
    compiler.forget_except(entries)
    return LinkedCatalog(
        ruleset=link(rules, filters, correlations, errors),
        revisions=revisions,
        gates=gates,
        off=frozenset(off),
    )


def build(entries: Sequence[RuleEntry], compiler: Compiler, generation: int) -> LoadedRules:
    """Compile ``entries`` into one :class:`LoadedRules` (CPU work: run it off the loop).

    The catalog is linked whole (:func:`link_catalog`); rules, filters and correlations off
    for every tenant are then left out of the engine (a correlation over an off rule stays
    valid and never fires). A correlation off for some tenants is gated like a rule.
    """
    catalog = link_catalog(entries, compiler)
    linked, off = catalog.ruleset, catalog.off
    correlations = [c for c in linked.correlations if c.id not in off]
    engine = Engine(
        [rule for rule in linked.rules if rule.id not in off],
        errors=linked.errors,
        filters=[f for f in linked.filters if f.id not in off],
        correlations=correlations,
        memo_bytes=compiler.memo_bytes,
    )
    engine.prepare(known_logsources())
    return LoadedRules(
        engine=engine,
        revisions=catalog.revisions,
        gates=catalog.gates,
        generation=generation,
        errors=linked.errors,
        correlations=Correlations(correlations),
    )


def _name(entry: RuleEntry) -> str:
    """What a record's text is named by in errors and the cache: its file, or its digest."""
    return entry.path or f"rule-{entry.sha256[:16]}.yml"


class LiveRules:
    """The catalog's rules for one detector: loaded at start, refreshed on change."""

    def __init__(self, catalog: RuleCatalog, settings: DetectSettings) -> None:
        self._catalog = catalog
        self._compiler = Compiler(settings)
        self._lock = asyncio.Lock()
        self.current = LoadedRules(engine=Engine(()))
        self.poll_s = settings.rules_poll_s

    async def load(self) -> LoadedRules:
        """Read and compile the whole catalog now, whatever its generation."""
        async with self._lock:
            generation = await self._catalog.generation()
            entries = [entry async for entry in self._catalog.each()]
            started = time.perf_counter()
            loaded = await asyncio.to_thread(build, entries, self._compiler, generation)
            self._swap(loaded, seconds=time.perf_counter() - started)
            return loaded

    async def refresh(self) -> bool:
        """Reload when the catalog's generation moved; whether the rules were swapped."""
        try:
            generation = await self._catalog.generation()
            if generation == self.current.generation:
                return False
            await self.load()
        except Exception:
            RULES_RELOADS.labels(result="failed").inc()
            raise
        RULES_RELOADS.labels(result="swapped").inc()
        return True

    def _swap(self, loaded: LoadedRules, *, seconds: float) -> None:
        known = {e.reason for e in self.current.errors}
        self.current = loaded
        RULES_LOADED.set(len(loaded.engine.rules))
        RULES_FAILED.set(len(loaded.errors))
        for error in loaded.errors:
            if error.reason not in known:
                log.warning("rule not loaded", extra={"path": error.path, "reason": error.reason})
        log.info(
            "rules loaded from the catalog",
            extra={
                "generation": loaded.generation,
                "loaded": len(loaded.engine.rules),
                "failed": len(loaded.errors),
                "per_tenant": len(loaded.gates),
                "compile_s": round(seconds, 3),
            },
        )

"""The engine the settings ask for: rules loaded and compiled, routed for the known logsources.

    engine = load_engine(settings.detect)

Every rule or filter that fails to load is logged with its path and reason (and
counted in ``soc_rules_failed`` by :func:`soc.detect.rules.load_rules`); the engine
runs with the others. Each Sigma filter applied is logged with the rules it tunes,
so the log says which tuning a detector runs with.
"""

from __future__ import annotations

from soc.detect.engine import Engine
from soc.detect.rules import load_rules
from soc.ingest.normalize import known_logsources
from soc.log import get_logger
from soc.settings import DetectSettings

log = get_logger(__name__)


def load_engine(settings: DetectSettings) -> Engine:
    ruleset = load_rules(settings.rules, cache_dir=settings.cache_dir, pipelines=settings.pipelines)
    for err in ruleset.errors:
        log.warning("rule not loaded", extra={"path": err.path, "reason": err.reason})
    for f in ruleset.filters:
        log.info(
            "filter loaded",
            extra={
                "filter_id": f.id,
                "title": f.title,
                "path": str(f.path),
                "rules": sorted(f.rule_ids),
                "tenants": "*" if f.tenants is None else sorted(f.tenants),
            },
        )
    log.info(
        "rules loaded",
        extra={
            "loaded": len(ruleset.rules),
            "failed": len(ruleset.errors),
            "filters": len(ruleset.filters),
        },
    )
    engine = Engine.from_ruleset(ruleset, memo_bytes=settings.memo_mb * 2**20)
    engine.prepare(known_logsources())
    return engine

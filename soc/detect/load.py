"""The engine the settings ask for: rules loaded and compiled, routed for the known logsources.

    engine = load_engine(settings.detect)

Every rule that fails to load is logged with its path and reason (and counted
in ``soc_rules_failed`` by :func:`soc.detect.rules.load_rules`); the engine
runs with the others.
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
    log.info("rules loaded", extra={"loaded": len(ruleset.rules), "failed": len(ruleset.errors)})
    engine = Engine.from_ruleset(ruleset)
    engine.prepare(known_logsources())
    return engine

"""Rule, filter and correlation upload (``POST /api/v1/rules``, ``soc rules import``): the
text checked as a managed rule (soc.detect.imports.check_text: pySigma parses and compiles
it with the detectors' pipelines) and described and validated for the rules page
(soc.detect.ruletext). Refusals are reasons returned, never raised."""

from __future__ import annotations

from functools import cache

from soc.detect.imports import check_text
from soc.detect.ruletext import describe, validate
from soc.settings import DetectSettings
from soc.store.eventquery import QueryError
from tests.fuzz.targets._common import Finding, text


@cache
def _settings() -> DetectSettings:
    return DetectSettings()


def fuzz_rule_text(data: bytes) -> None:
    body = text(data)
    reasons = check_text("upload.yml", body, _settings())
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise Finding(f"check_text gave {reasons!r}")
    if reasons:
        return
    try:
        describe(body)
    except QueryError as e:
        raise Finding(f"accepted by check_text, refused by describe: {e}") from e
    validate(body)

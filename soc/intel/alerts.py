"""The "indicator match" alert: one per (indicator, event), the same wherever raised.

Its id is ``Alert.make_id(rule_id=<indicator id>, event_id=<event id>)``, so a replayed
batch, a restarted detector or a retro-hunt over events the stream already matched
raises nothing twice (store writes keep an existing id). ``rule_id`` is
:data:`RULE_ID` for every indicator; the title names the value and its source; the
indicator itself is in ``Alert.indicator``.
"""

from __future__ import annotations

from soc.intel.matcher import Hit
from soc.intel.models import Indicator
from soc.models import Alert, Event, IndicatorMatchInfo, Severity, drill_of, utcnow

RULE_ID = "soc-indicator-match"
TITLE_VALUE_MAX = 120


def severity_of(indicator: Indicator, fixed: str | None = None) -> Severity:
    """``fixed`` (``detect.indicators.severity``) or from the indicator's confidence."""
    if fixed is not None:
        return Severity(fixed)
    confidence = indicator.confidence
    if confidence is None:
        return Severity.medium
    if confidence >= 85:
        return Severity.high
    return Severity.medium if confidence >= 50 else Severity.low


def title_of(indicator: Indicator) -> str:
    value = indicator.value
    if len(value) > TITLE_VALUE_MAX:
        value = value[: TITLE_VALUE_MAX - 1] + "…"
    return f"Indicator match: {value} ({indicator.source})"


def indicator_alert(hit: Hit, event: Event, *, severity: str | None = None) -> Alert:
    """The alert ``hit`` raises on ``event``."""
    ind = hit.indicator
    return Alert(
        id=Alert.make_id(rule_id=ind.id, event_id=event.id),
        tenant=event.tenant,
        rule_id=RULE_ID,
        rule_title=title_of(ind),
        severity=severity_of(ind, severity),
        tags=["intel.indicator", f"intel.{ind.type.value}", f"tlp.{ind.tlp}", *ind.labels],
        event_id=event.id,
        time=event.time,
        created=utcnow(),
        host=event.host,
        source=event.source,
        logsource=event.logsource,
        drill=drill_of(event.origin),
        indicator=IndicatorMatchInfo(
            indicator_id=ind.id,
            type=ind.type.value,
            value=ind.value,
            source=ind.source,
            tlp=ind.tlp,
            confidence=ind.confidence,
            stix_id=ind.stix_id,
            field=hit.field,
            observed=hit.observed,
        ),
    )

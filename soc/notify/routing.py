"""Which channels a notice goes to: every route whose tenant, unit, trigger and severity
fit it; one message per channel however many routes name it (the first route's language)."""

from __future__ import annotations

from collections.abc import Iterable

from soc.models import Severity
from soc.notify.models import INCIDENT_TRIGGERS, Notice
from soc.settings import ALL_TENANTS, Lang, RouteSettings


def fits(route: RouteSettings, notice: Notice) -> bool:
    if route.tenant not in (ALL_TENANTS, notice.tenant):
        return False
    if notice.trigger not in route.triggers:
        return False
    if route.unit is not None and route.unit != notice.unit:
        return False
    if notice.trigger in INCIDENT_TRIGGERS and notice.severity is not None:
        return notice.severity.rank >= Severity(route.min_severity).rank
    return True


def recipients(notice: Notice, routes: Iterable[RouteSettings]) -> dict[str, Lang | None]:
    """Channel name -> the language a route asks for (``None``: the channel's)."""
    chosen: dict[str, Lang | None] = {}
    for route in routes:
        if fits(route, notice) and route.channel not in chosen:
            chosen[route.channel] = route.lang
    return chosen

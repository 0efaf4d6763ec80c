"""Routes and messages: which channels a notice goes to, and what the message says."""

from __future__ import annotations

from datetime import UTC, datetime

from soc.models import Severity
from soc.notify.messages import render
from soc.notify.models import Notice
from soc.notify.routing import recipients
from soc.settings import RouteSettings

T = datetime(2026, 12, 6, 19, 30, tzinfo=UTC)


def notice(**kw: object) -> Notice:
    fields: dict[str, object] = {
        "trigger": "handoff",
        "key": "audit:1",
        "tenant": "hue-ioc",
        "time": T,
        "incident": "inc-9",
        "title": "Brute force SSH",
        "severity": Severity.high,
        "host": "web-01",
        "rule": "SSH brute force",
        "unit": "CAT-PCTP",
    }
    return Notice.model_validate(fields | kw)


ROUTES = [
    RouteSettings(tenant="hue-ioc", unit="CAT-PCTP", triggers=["handoff"], channel="pctp"),
    RouteSettings(tenant="hue-ioc", unit="PA05", triggers=["handoff"], channel="pa05"),
    RouteSettings(triggers=["handoff", "incident_new"], channel="soc", min_severity="critical"),
    RouteSettings(tenant="hue-dof", triggers=["handoff"], channel="dof"),
    RouteSettings(triggers=["handoff"], channel="pctp", lang="en"),
    RouteSettings(triggers=["source_silent"], channel="soc"),
]


def test_a_hand_off_goes_to_the_units_channel_once_and_nowhere_else() -> None:
    assert recipients(notice(), ROUTES) == {"pctp": None}
    assert recipients(notice(unit="PA05"), ROUTES) == {"pa05": None, "pctp": "en"}
    assert recipients(notice(severity=Severity.critical), ROUTES) == {"pctp": None, "soc": None}
    assert set(recipients(notice(tenant="hue-dof"), ROUTES)) == {"dof", "pctp"}
    silent = notice(trigger="source_silent", incident=None, severity=Severity.low, unit=None)
    assert recipients(silent, ROUTES) == {"soc": None}, "min_severity is for incident triggers"


def test_messages_are_vietnamese_by_default_english_on_request_and_hold_no_event() -> None:
    vi = render(notice(), "vi", base_url="https://soc.hue.gov.vn/")
    en = render(notice(), "en", base_url="https://soc.hue.gov.vn/")
    assert vi.subject == "Sự cố được chuyển cho CAT-PCTP [cao]: Brute force SSH"
    assert en.subject == "Incident handed off to CAT-PCTP [high]: Brute force SSH"
    assert vi.link == "https://soc.hue.gov.vn/ui#/incidents/inc-9"
    assert "Máy: web-01" in vi.text and "Luật: SSH brute force" in vi.text
    assert "2026-12-07 02:30:00 (GMT+7)" in vi.text, "shown in Asia/Ho_Chi_Minh"
    assert set(Notice.model_fields) >= {"host", "rule"} and "event" not in Notice.model_fields

"""A correlation alert in the incident view: its rule, group, figure, window and events.

Tenant B's connector ships the recorded auth.log lines of 2017-03-30 15:54:17 to
15:54:55 (its host's clock: 12 password failures from 24.151.103.17, every 3 s); the
stack's detector raises the failures' alerts. A lead then runs the shipped SSH brute-force
correlation as a retro-hunt in raise mode over them (POST /api/v1/hunts), which raises
the correlation alert the streaming evaluator gives (computed here offline, with the same
engine and evaluator: 10 failures from 15:54:19 to 15:54:46); the grouping stage puts it
in an incident. Tenant B's viewer opens that incident and reads the correlation, in
Vietnamese and in English.

Screenshots: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from connectors.parse._base import Defaults
from connectors.parse.linux_auth import parse_auth_line
from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.load import load_engine
from soc.ingest.ndjson import parse_ndjson
from soc.models import Alert, utcnow
from tests.browser.conftest import Requests, Screens
from tests.browser.stack import KEYS, TENANT_B, Stack
from tests.browser.ui import set_language, sign_in, sign_in_with_key, vietnam_time

NewPage = Callable[..., Page]
BRUTE_FORCE = "cebc8bb7-edae-44bc-94da-634fdcb02c46"
ATTACKER = "24.151.103.17"
FIRST, LAST = 2730, 2768
"""The auth.log lines (1-based, inclusive) shipped: the start of 24.151.103.17's attack."""
HUNT_TIMEOUT_S = 60.0


def attack_lines(shared: Path) -> list[bytes]:
    lines = (shared / "datasets/linux/auth.log").read_text("utf-8").splitlines()[FIRST - 1 : LAST]
    assert "Failed password" in lines[1] and ATTACKER in lines[1]
    # As tests/browser/stack.py ships tenant B's other lines (the host's clock, a year).
    defaults = Defaults(source="auth", tz=ZoneInfo("Asia/Ho_Chi_Minh"), now=utcnow())
    return [
        parse_auth_line(line, defaults=defaults).model_dump_json(exclude_none=True).encode()
        for line in lines
    ]


def correlation_alert(soc: Stack, lines: list[bytes]) -> Alert:
    """The streaming evaluator's correlation alert over the lines, offline."""
    engine = load_engine(soc.settings.detect)
    events = parse_ndjson(
        b"\n".join(lines), tenant=TENANT_B, source="http", received=utcnow(), max_line_bytes=1 << 20
    ).events
    catalog = Correlations(c for c in engine.correlations if c.id == BRUTE_FORCE)
    evaluator = Evaluator(catalog, soc.settings.detect.correlation)
    alerts: list[Alert] = []
    for event in sorted(events, key=lambda e: e.time):
        alerts += evaluator.feed(
            catalog.matches_of_rules([r.id for r in engine.match(event)], event)
        )
    (alert,) = alerts + evaluator.finish()
    return alert


def raise_by_hunt(soc: Stack, alert: Alert) -> dict[str, object]:
    info = alert.correlation
    assert info is not None
    body = {
        "rule_ids": [BRUTE_FORCE],
        "since": (info.window_start - timedelta(minutes=5)).isoformat(),
        "until": (info.window_end + timedelta(minutes=5)).isoformat(),
        "tenants": [TENANT_B],
        "mode": "raise",
    }
    with soc.client() as c:
        r = c.post("/api/v1/hunts", json=body)
        assert r.status_code == 202, r.text
        hunt_id = r.json()["id"]
        deadline = time.monotonic() + HUNT_TIMEOUT_S
        while True:
            hunt: dict[str, object] = c.get(f"/api/v1/hunts/{hunt_id}").raise_for_status().json()
            if hunt["state"] not in ("queued", "running"):
                return hunt
            assert time.monotonic() < deadline, hunt
            time.sleep(0.2)


def test_a_correlation_alert_reads_as_its_own_timeline(
    soc: Stack, shared_dir: Path, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    lines = attack_lines(shared_dir)
    expected = correlation_alert(soc, lines)
    info = expected.correlation
    assert info is not None and info.value == 10 and len(info.event_ids) == 10
    soc.add_alerts("ingest-b", TENANT_B, lines)

    hunt = raise_by_hunt(soc, expected)
    assert hunt["state"] == "done", hunt
    (match,) = hunt["results"]  # type: ignore[misc]
    assert match["alert_id"] == expected.id and match["kind"] == "correlation"
    soc.alerts[TENANT_B].add(expected.id)
    soc.wait_for_alerts(TENANT_B, soc.alerts[TENANT_B])
    (stored,) = [a for a in soc.all_alerts(tenant=TENANT_B) if a["id"] == expected.id]
    assert stored["correlation"]["event_ids"] == info.event_ids

    page = new_page()
    sign_in(page, soc.url, "viewer")
    set_language(page, "vi")
    page.goto(f"{soc.url}/ui/#/incidents/{stored['incident_id']}")
    item = page.locator(f"[data-testid=timeline-item][data-alert-id='{expected.id}']")
    expect(item).to_have_attribute("data-kind", "correlation")
    block = item.get_by_test_id("correlation")
    expect(block.get_by_test_id("correlation-rule")).to_have_text(expected.rule_title)
    expect(block.locator("a[data-testid=correlation-rule]")).to_have_count(0)  # no rules:read
    expect(block.get_by_test_id("correlation-type")).to_have_text("Đếm sự kiện")
    expect(block.get_by_test_id("correlation-group")).to_have_text(f"src_ip={ATTACKER}")
    expect(block.get_by_test_id("correlation-value")).to_have_text("10")
    expect(block.get_by_test_id("correlation-condition")).to_have_text("gte 10")
    start, end = info.window_start.isoformat(), info.window_end.isoformat()
    expect(block.get_by_test_id("correlation-window-start")).to_have_text(vietnam_time(start))
    expect(block.get_by_test_id("correlation-window-end")).to_have_text(vietnam_time(end))
    expect(block.locator("h3")).to_have_text(
        "Các sự kiện của nó, theo thời gian (hiển thị 10 / 10)"
    )

    # Its ten events, oldest first, each the stored event, opening to its fields.
    rows = block.get_by_test_id("correlation-event")
    expect(rows).to_have_count(10)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.eventId)") == info.event_ids
    times = rows.evaluate_all("rs => rs.map(r => r.dataset.time)")
    assert times == sorted(times)
    expect(rows.first.get_by_test_id("correlation-event-time")).to_have_text(
        vietnam_time(info.window_start.isoformat())
    )
    expect(rows.last.get_by_test_id("correlation-event-time")).to_have_text(vietnam_time(end))
    rows.first.locator("summary").click()
    fields = rows.first.get_by_test_id("correlation-event-fields")
    expect(fields).to_contain_text(ATTACKER)
    expect(fields).to_contain_text("Failed password for elastic_user_0")
    screens(page, "correlation-vi")

    # Each event opens in the explorer, on its second and the correlation's group.
    href = rows.first.get_by_test_id("correlation-event-pivot").get_attribute("href") or ""
    assert href.startswith("#/events?")
    query = parse_qs(href.split("?", 1)[1])
    assert query["q"] == [f"src_ip:{ATTACKER}"] and query["from"] == [
        start.replace("+00:00", ".000Z")
    ]
    rows.first.get_by_test_id("correlation-event-pivot").click()
    expect(page.get_by_test_id("view-events")).to_be_visible()
    expect(page.get_by_test_id("explorer-q")).to_have_value(f"src_ip:{ATTACKER}")
    expect(page.get_by_test_id("event-row")).to_have_count(1)
    expect(page.get_by_test_id("event-row")).to_have_attribute("data-id", info.event_ids[0])
    screens(page, "explorer-on-the-first-event")
    page.go_back()
    expect(rows).to_have_count(10)

    set_language(page, "en")
    expect(block.get_by_test_id("correlation-type")).to_have_text("Event count")
    expect(block.locator("h3")).to_have_text("Its events, by time (10 of 10 shown)")
    screens(page, "correlation-en")

    # A lead (the stack's key of every tenant) follows the rule to its page: the correlation
    # rule, found by the alert's rule id, with its YAML.
    lead = new_page()
    sign_in_with_key(lead, soc.url, KEYS["seed"][2])
    lead.goto(f"{soc.url}/ui/#/incidents/{stored['incident_id']}")
    rule_link = lead.locator(f"[data-alert-id='{expected.id}'] a[data-testid=correlation-rule]")
    expect(rule_link).to_have_attribute("href", f"#/rules/{BRUTE_FORCE}")
    rule_link.click()
    expect(lead.get_by_test_id("view-rule")).to_be_visible()
    expect(lead.get_by_test_id("rule-title")).to_have_text(expected.rule_title)
    expect(lead.get_by_test_id("rule-yaml")).to_contain_text("type: event_count")
    screens(lead, "correlation-rule-page")

    # The hunt that raised it lists the correlation: its group, and its window's events.
    lead.goto(f"{soc.url}/ui/#/hunts/{hunt['id']}")
    set_language(lead, "en")
    row = lead.locator(f"[data-testid=match-row][data-alert-id='{expected.id}']")
    expect(row).to_have_attribute("data-kind", "correlation")
    expect(row.get_by_test_id("match-group")).to_have_text(f"src_ip={ATTACKER}")
    expect(row.get_by_test_id("match-window")).to_have_text("10 events in the window")
    screens(lead, "hunt-lists-the-correlation")
    assert requests_made.foreign(soc.url) == []

"""Drills in the browser: a lead starts one, the SOC answers it, the lead reads its scorecard
and prints its report; a blind drill is badged for the lead only.

The service is a fresh one with the accounts and no data (stack.bare_stack), so the
drills' alerts change no other test's counts. Its drill runner replays the shipped
scenario ``web-portal-attack`` (an FCKeditor probe on the city portal, expected unit
PA05) in tenant hue-ioc at speed 1000.

Screenshots of every step: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests, Screens
from tests.browser.stack import DRILL_UNIT, TENANT_A, Stack, bare_stack
from tests.browser.ui import set_language, sign_in

NewPage = Callable[..., Page]
SCENARIO = "web-portal-attack"
PROBE_RULE = "3046d2bb-2aaf-4744-a0e0-01b7c0665a29"
"""Probe for FCKeditor: the detection the scenario expects."""
REPLAY_TIMEOUT_MS = 60_000
NOTE = "Rà quét FCKeditor trên cổng thông tin. Đề nghị PA05 kiểm tra máy chủ web."
SUMMARY = "Đã chặn địa chỉ rà quét; FCKeditor đã được gỡ khỏi cổng thông tin."


@pytest.fixture(scope="module")
def drill_soc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from bare_stack(tmp_path_factory.mktemp("soc-drills"))


def alert_ids(soc: Stack) -> set[str]:
    return {a["id"] for a in soc.all_alerts(tenant=TENANT_A)}


def new_alerts(soc: Stack, before: set[str]) -> list[dict[str, Any]]:
    """The alerts raised since ``before``, once the expected one is there and every one is
    grouped into an incident."""
    deadline = time.monotonic() + REPLAY_TIMEOUT_MS / 1000
    while True:
        items = [a for a in soc.all_alerts(tenant=TENANT_A) if a["id"] not in before]
        grouped = all(a.get("incident_id") or a.get("suppressed_by") for a in items)
        if grouped and any(a["rule_id"] == PROBE_RULE for a in items):
            return items
        assert time.monotonic() < deadline, f"the drill raised {len(items)} alerts, none grouped"
        time.sleep(0.25)


def start_drill(page: Page, *, blind: bool) -> str:
    """Start a drill of SCENARIO from the drills page; returns its id once replayed."""
    page.get_by_test_id("nav-drills").click()
    expect(page.get_by_test_id("view-drills")).to_be_visible()
    page.get_by_test_id("drill-scenario").select_option(SCENARIO)
    expect(page.get_by_test_id("drill-scenario-unit")).to_have_text(DRILL_UNIT)
    page.get_by_test_id("drill-tenant").fill(TENANT_A)
    page.get_by_test_id("drill-speed").fill("1000")
    page.get_by_test_id("drill-blind").set_checked(blind)
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/drills") and r.request.method == "POST"
    ) as r:
        page.get_by_test_id("drill-submit").click()
    assert r.value.status == 201
    drill = r.value.json()
    assert drill["speed"] == 1000 and drill["blind"] is blind and drill["tenant"] == TENANT_A
    row = page.locator(f"tr[data-testid=drill-row][data-id='{drill['id']}']")
    expect(row).to_be_visible()
    # The page follows the replay (every 2 s) until the runner has sent every event.
    expect(row).to_have_attribute("data-state", "replayed", timeout=REPLAY_TIMEOUT_MS)
    expect(row.get_by_test_id("drill-kind")).to_have_attribute(
        "data-value", "blind" if blind else "announced"
    )
    progress = row.get_by_test_id("drill-progress")
    events = progress.get_attribute("data-events")
    assert events and int(events) > 0
    expect(progress).to_have_attribute("data-sent", events)
    return str(drill["id"])


def test_announced_drill_answered_scored_and_reported(
    drill_soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    soc = drill_soc
    before = alert_ids(soc)

    # The lead starts an announced drill from the drills page and follows its replay.
    lead = new_page()
    sign_in(lead, soc.url, "lead")
    expect(lead.get_by_test_id("nav-drills")).to_have_text("Diễn tập")
    drill_id = start_drill(lead, blind=False)
    screens(lead, "lead-drill-replayed")

    alerts = new_alerts(soc, before)
    probe = next(a for a in alerts if a["rule_id"] == PROBE_RULE)
    iid = str(probe["incident_id"])
    assert probe.get("drill") == drill_id

    # The analyst sees the drill's alerts and incident badged DIỄN TẬP.
    analyst = new_page()
    sign_in(analyst, soc.url, "analyst")
    expect(analyst.get_by_test_id("nav-drills")).to_have_count(0)  # leads only
    row = analyst.locator(f"tr[data-testid=alert-row][data-id='{probe['id']}']")
    expect(row.get_by_test_id("drill-badge")).to_have_text("DIỄN TẬP")
    screens(analyst, "analyst-alerts-badged")
    analyst.get_by_test_id("nav-incidents").click()
    inc_row = analyst.locator(f"tr[data-testid=incident-row][data-id='{iid}']")
    expect(inc_row.get_by_test_id("drill-badge")).to_have_text("DIỄN TẬP")
    inc_row.get_by_test_id("incident-link").click()
    view = analyst.get_by_test_id("view-incident")
    expect(view).to_have_attribute("data-status", "new")
    expect(analyst.get_by_test_id("incident-head").get_by_test_id("drill-badge")).to_be_visible()
    screens(analyst, "analyst-incident-badged")

    # Triage, then hand off to the scenario's unit.
    analyst.get_by_test_id("action-triage").click()
    expect(view).to_have_attribute("data-status", "triaged")
    analyst.get_by_test_id("action-hand_off").click()
    dialog = analyst.get_by_test_id("dialog-hand_off")
    dialog.get_by_test_id("dialog-to_unit").fill(DRILL_UNIT)
    dialog.get_by_test_id("dialog-note").fill(NOTE)
    dialog.get_by_test_id("dialog-submit").click()
    expect(view).to_have_attribute("data-status", "handed_off")
    screens(analyst, "analyst-handed-off")

    # The responder of PA05 accepts it from the inbox, starts the response and resolves it.
    responder = new_page()
    sign_in(responder, soc.url, "responder_pa05")
    offered = responder.get_by_test_id("inbox-pending-table").locator(f"tr[data-id='{iid}']")
    expect(offered.get_by_test_id("drill-badge")).to_have_text("DIỄN TẬP")
    screens(responder, "responder-inbox-badged")
    offered.get_by_test_id("inbox-accept").click()
    owned = responder.get_by_test_id("inbox-owned-table").locator(f"tr[data-id='{iid}']")
    owned.get_by_test_id("incident-link").click()
    rview = responder.get_by_test_id("view-incident")
    expect(rview).to_have_attribute("data-status", "acknowledged")
    responder.get_by_test_id("action-start_response").click()
    expect(rview).to_have_attribute("data-status", "responding")
    responder.get_by_test_id("action-resolve").click()
    responder.get_by_test_id("dialog-resolve").get_by_test_id("dialog-summary").fill(SUMMARY)
    responder.get_by_test_id("dialog-resolve").get_by_test_id("dialog-submit").click()
    expect(rview).to_have_attribute("data-status", "resolved")
    screens(responder, "responder-resolved")

    # The lead reads the scorecard: the probe caught in time, the hand-off to the right unit.
    lead.get_by_test_id("nav-drills").click()
    lead.locator(f"tr[data-testid=drill-row][data-id='{drill_id}']").get_by_test_id(
        "drill-scorecard-link"
    ).click()
    card = lead.get_by_test_id("view-drill")
    expect(card).to_have_attribute("data-id", drill_id)
    expect(lead.get_by_test_id("scorecard-title")).to_have_text(
        "Rà quét cổng thông tin tìm trình soạn thảo web có lỗ hổng"
    )
    caught = lead.locator(f"tr[data-testid=detection-row][data-rule='{PROBE_RULE}']")
    expect(caught).to_have_attribute("data-outcome", "met")
    expect(caught.get_by_test_id("outcome")).to_have_text("Đạt")
    expect(caught.get_by_test_id("detection-score")).to_have_text("100")
    handoff = lead.locator(f"tr[data-testid=handoff-row][data-unit='{DRILL_UNIT}']")
    expect(handoff).to_have_attribute("data-expected", "true")
    expect(handoff.get_by_test_id("handoff-expected")).to_contain_text(f"Đúng đơn vị {DRILL_UNIT}")
    for milestone in ("triage", "hand_off", "acknowledge"):
        expect(
            lead.locator(f"tr[data-testid=milestone-row][data-name='{milestone}']")
        ).to_have_attribute("data-outcome", "met")
    expect(lead.get_by_test_id("scorecard-faster")).to_be_visible()  # x1000
    expect(lead.get_by_test_id("score-detection")).to_have_attribute("data-value", "100")
    expect(
        lead.get_by_test_id("scorecard-history").get_by_test_id("history-row")
    ).not_to_have_count(0)
    screens(lead, "lead-scorecard")
    set_language(lead, "en")
    expect(caught.get_by_test_id("outcome")).to_have_text("Met")
    expect(handoff.get_by_test_id("handoff-expected")).to_contain_text(
        f"Expected unit {DRILL_UNIT}"
    )
    screens(lead, "lead-scorecard-en")
    set_language(lead, "vi")

    # The printable report, in Vietnamese, printed alone.
    lead.get_by_test_id("scorecard-report-link").click()
    report = lead.get_by_test_id("drill-report")
    expect(report.locator("article.drill-report h1")).to_have_text(
        "BÁO CÁO KẾT QUẢ DIỄN TẬP ỨNG PHÓ SỰ CỐ AN TOÀN THÔNG TIN MẠNG"
    )
    expect(report).to_contain_text(drill_id)
    expect(report).to_contain_text(DRILL_UNIT)
    expect(lead.get_by_test_id("report-print")).to_have_text("In báo cáo")
    screens(lead, "lead-report")
    lead.emulate_media(media="print")
    expect(lead.get_by_test_id("topbar")).to_be_hidden()
    expect(lead.get_by_test_id("report-print")).to_be_hidden()
    expect(report).to_be_visible()
    screens(lead, "lead-report-print")
    lead.emulate_media(media="screen")
    set_language(lead, "en")  # the report follows the UI's language
    expect(report.locator("article.drill-report h1")).to_have_text(
        "CYBER INCIDENT RESPONSE DRILL REPORT"
    )
    set_language(lead, "vi")

    # The lead ends the drill: its score is kept and shown in the list.
    lead.get_by_test_id("report-back").click()
    lead.get_by_test_id("drill-end").click()
    lead.get_by_test_id("dialog-drill-end").get_by_test_id("dialog-submit").click()
    expect(
        lead.get_by_test_id("view-drill").locator("[data-testid=drill-state]").first
    ).to_have_attribute("data-value", "ended")
    lead.get_by_test_id("nav-drills").click()
    ended = lead.locator(f"tr[data-testid=drill-row][data-id='{drill_id}']")
    expect(ended).to_have_attribute("data-state", "ended")
    stored = soc.api(f"/drills/{drill_id}")
    assert stored["score"] is not None
    expect(ended.get_by_test_id("drill-score")).to_have_text(f"{stored['score']:g}")
    screens(lead, "lead-drill-ended")
    assert requests_made.foreign(soc.url) == []


def test_blind_drill_badged_for_the_lead_only(
    drill_soc: Stack, new_page: NewPage, screens: Screens
) -> None:
    soc = drill_soc
    before = alert_ids(soc)
    lead = new_page()
    sign_in(lead, soc.url, "lead")
    drill_id = start_drill(lead, blind=True)
    alerts = new_alerts(soc, before)
    probe = next(a for a in alerts if a["rule_id"] == PROBE_RULE)

    # The lead's queue badges the blind drill's alerts.
    lead.get_by_test_id("nav-alerts").click()
    lead_row = lead.locator(f"tr[data-testid=alert-row][data-id='{probe['id']}']")
    expect(lead_row).to_be_visible()
    expect(lead_row.get_by_test_id("drill-badge")).to_be_visible()
    assert lead_row.get_by_test_id("drill-badge").get_attribute("data-drill") == drill_id
    screens(lead, "lead-blind-badged")

    # The analyst sees the same alerts as a real attack: no badge, on the row or the incident.
    analyst = new_page()
    sign_in(analyst, soc.url, "analyst")
    row = analyst.locator(f"tr[data-testid=alert-row][data-id='{probe['id']}']")
    expect(row).to_be_visible()
    screens(analyst, "analyst-blind-not-badged")
    with soc.signed_in("analyst") as api:
        seen = api.get(f"/api/v1/alerts/{probe['id']}").raise_for_status().json()
    assert seen["drill"] is None  # the server takes a blind drill's id out (soc.drills.marks)
    expect(row.get_by_test_id("drill-badge")).to_have_count(0)
    analyst.goto(f"{soc.url}/ui/#/incidents/{probe['incident_id']}")
    expect(analyst.get_by_test_id("timeline-item").first).to_be_visible()
    expect(analyst.get_by_test_id("incident-head").get_by_test_id("drill-badge")).to_have_count(0)
    screens(analyst, "analyst-blind-incident")

    # The analyst hands it to the wrong unit; the lead's scorecard marks the hand-off.
    view = analyst.get_by_test_id("view-incident")
    analyst.get_by_test_id("action-triage").click()
    expect(view).to_have_attribute("data-status", "triaged")
    analyst.get_by_test_id("action-hand_off").click()
    dialog = analyst.get_by_test_id("dialog-hand_off")
    dialog.get_by_test_id("dialog-to_unit").fill("CAT-PCTP")
    dialog.get_by_test_id("dialog-submit").click()
    expect(view).to_have_attribute("data-status", "handed_off")
    lead.goto(f"{soc.url}/ui/#/drills/{drill_id}")
    wrong = lead.locator("tr[data-testid=handoff-row][data-unit='CAT-PCTP']")
    expect(wrong).to_have_attribute("data-expected", "false")
    screens(lead, "lead-scorecard-wrong-unit")

    # Once the lead ends the drill, the analyst sees what it was.
    lead.get_by_test_id("drill-end").click()
    lead.get_by_test_id("dialog-drill-end").get_by_test_id("dialog-submit").click()
    expect(
        lead.get_by_test_id("view-drill").locator("[data-testid=drill-state]").first
    ).to_have_attribute("data-value", "ended")
    analyst.reload()
    expect(analyst.get_by_test_id("incident-head").get_by_test_id("drill-badge")).to_be_visible()
    expect(view).to_have_attribute("data-status", "closed")
    screens(analyst, "analyst-blind-revealed")

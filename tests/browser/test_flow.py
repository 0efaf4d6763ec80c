"""The acceptance flow: an analyst hands an incident to the police unit CAT-PCTP, a
responder of that unit accepts, comments and resolves it, in two browsers at once.

Screenshots of every step: build/artifacts/browser/test_hand_off_accept_resolve/NN-<step>.png
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests, Screens
from tests.browser.stack import PEOPLE, TENANT_A, UNIT, Stack
from tests.browser.ui import row_ids, set_language, sign_in, vietnam_time

NewPage = Callable[..., Page]
RULE = "Dumping of Sensitive Hives Via Reg.EXE"
NOTE = "Máy MKT01 bị trích xuất SAM/SYSTEM. Đề nghị PC02 cách ly máy và thu giữ ổ cứng."
COMMENT = "Đã cách ly MKT01 khỏi mạng lúc 02:10; đang sao lưu ổ đĩa."
SUMMARY = "MKT01 đã được cài lại; tài khoản bị lộ đã đổi mật khẩu."


def incident_of_rule(soc: Stack, title: str) -> dict[str, object]:
    alert = next(a for a in soc.all_alerts(tenant=TENANT_A) if a["rule_title"] == title)
    assert alert["incident_id"], "the detector groups every alert into an incident"
    view: dict[str, object] = soc.api(f"/incidents/{alert['incident_id']}")["incident"]
    return view


def status_is(page: Page, status: str) -> None:
    expect(page.get_by_test_id("view-incident")).to_have_attribute("data-status", status)


def test_hand_off_accept_resolve(
    soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    incident = incident_of_rule(soc, RULE)
    iid = str(incident["id"])
    assert incident["status"] == "new"

    # The analyst signs in and narrows the queue.
    analyst = new_page()
    sign_in(analyst, soc.url, "analyst")
    rows = analyst.get_by_test_id("alert-row")
    expect(rows).to_have_count(len(soc.alerts[TENANT_A]))
    all_rows = row_ids(analyst)
    # What the server answers to the same filter; the table must show exactly that. (Waiting
    # only for the count to change raced the re-render: it also matched the emptied table.)
    filtered = [a["id"] for a in soc.all_alerts(tenant=TENANT_A, severity="high", q="reg")]
    assert 0 < len(filtered) < len(all_rows)
    analyst.get_by_test_id("filter-severity-high").check()
    analyst.get_by_test_id("filter-q").fill("reg")
    analyst.get_by_test_id("filter-apply").click()
    expect(rows).to_have_count(len(filtered))
    assert set(row_ids(analyst)) == set(filtered)
    expect(rows.locator("[data-testid=severity]")).to_have_text(["Cao"] * len(filtered))
    screens(analyst, "analyst-queue-filtered")

    # Opens the incident from the incidents list.
    analyst.get_by_test_id("nav-incidents").click()
    analyst.locator(f"tr[data-id='{iid}']").get_by_test_id("incident-link").click()
    status_is(analyst, "new")
    expect(analyst.get_by_test_id("incident-title")).to_have_text(str(incident["title"]))
    items = analyst.get_by_test_id("timeline-item")
    expect(items).to_have_count(int(str(incident["alert_count"])))
    expect(items.first.get_by_test_id("timeline-rule")).to_have_text(RULE)
    items.first.locator("details summary").click()
    expect(items.first.get_by_test_id("timeline-fields")).to_contain_text("CommandLine")
    expect(items.first.get_by_test_id("timeline-raw")).to_contain_text("reg")
    screens(analyst, "analyst-incident")

    # Triage, then hand off to CAT-PCTP with a note.
    analyst.get_by_test_id("action-triage").click()
    status_is(analyst, "triaged")
    analyst.get_by_test_id("action-hand_off").click()
    dialog = analyst.get_by_test_id("dialog-hand_off")
    dialog.get_by_test_id("dialog-to_unit").fill(UNIT)
    dialog.get_by_test_id("dialog-note").fill(NOTE)
    screens(analyst, "analyst-hand-off-dialog")
    dialog.get_by_test_id("dialog-submit").click()
    status_is(analyst, "handed_off")
    expect(analyst.get_by_test_id("pending-handoff")).to_contain_text(UNIT)
    expect(analyst.get_by_test_id("pending-note")).to_have_text(NOTE)
    expect(analyst.get_by_test_id("action-recall")).to_be_visible()
    screens(analyst, "analyst-handed-off")

    # In a second browser the responder of CAT-PCTP finds it in the hand-off inbox.
    responder = new_page()
    sign_in(responder, soc.url, "responder")
    expect(responder.get_by_test_id("view-inbox")).to_be_visible()
    expect(responder.get_by_test_id("whoami-unit")).to_contain_text(UNIT)
    offered = responder.get_by_test_id("inbox-pending-table").locator(f"tr[data-id='{iid}']")
    expect(offered.get_by_test_id("inbox-note")).to_have_text(NOTE)
    screens(responder, "responder-inbox")
    offered.get_by_test_id("inbox-accept").click()
    owned = responder.get_by_test_id("inbox-owned-table").locator(f"tr[data-id='{iid}']")
    expect(owned).to_be_visible()
    expect(
        responder.get_by_test_id("inbox-pending-table").locator(f"tr[data-id='{iid}']")
    ).to_have_count(0)
    screens(responder, "responder-accepted")

    # Opens it, comments, starts the response and resolves it.
    owned.get_by_test_id("incident-link").click()
    status_is(responder, "acknowledged")
    expect(responder.get_by_test_id("incident-owner")).to_have_text(UNIT)
    expect(responder.get_by_test_id("incident-assignee")).to_have_text(PEOPLE["responder"].username)
    responder.get_by_test_id("comment-text").fill(COMMENT)
    responder.get_by_test_id("comment-submit").click()
    comment = responder.get_by_test_id("comment").filter(has_text=COMMENT)
    expect(comment).to_contain_text(PEOPLE["responder"].username)
    responder.get_by_test_id("action-start_response").click()
    status_is(responder, "responding")
    responder.get_by_test_id("action-resolve").click()
    responder.get_by_test_id("dialog-resolve").get_by_test_id("dialog-summary").fill(SUMMARY)
    responder.get_by_test_id("dialog-resolve").get_by_test_id("dialog-submit").click()
    status_is(responder, "resolved")
    expect(responder.get_by_test_id("incident-resolution")).to_have_text(SUMMARY)
    expect(responder.get_by_test_id("incident-status")).to_have_text("Đã xử lý")
    screens(responder, "responder-resolved")

    # The analyst's page is stale: a write with the old version is refused (409), the
    # page says someone changed the incident, and shows it as it now is.
    analyst.get_by_test_id("action-recall").click()
    analyst.get_by_test_id("dialog-recall").get_by_test_id("dialog-submit").click()
    expect(analyst.get_by_test_id("toast-error")).to_contain_text("Người khác vừa thay đổi")
    status_is(analyst, "resolved")
    screens(analyst, "analyst-conflict-reloaded")

    # Vietnamese and English, switched at any time.
    set_language(responder, "en")
    expect(responder.get_by_test_id("incident-status")).to_have_text("Resolved")
    expect(responder.get_by_test_id("nav-incidents")).to_have_text("Incidents")
    expect(responder.get_by_test_id("nav-inbox")).to_have_text("Hand-off inbox")
    expect(responder.get_by_test_id("incident-comments").locator("h2")).to_have_text("Comments")
    screens(responder, "responder-resolved-en")
    set_language(responder, "vi")
    expect(responder.get_by_test_id("nav-incidents")).to_have_text("Sự cố")
    expect(responder.get_by_test_id("nav-inbox")).to_have_text("Hộp nhận chuyển giao")
    expect(responder.get_by_test_id("incident-comments").locator("h2")).to_have_text("Bình luận")

    # What the API now holds, and its UTC times shown in Asia/Ho_Chi_Minh.
    stored = soc.api(f"/incidents/{iid}")
    inc = stored["incident"]
    assert inc["status"] == "resolved" and inc["owner_unit"] == UNIT
    assert inc["handoffs"][-1]["state"] == "accepted" and inc["handoffs"][-1]["note"] == NOTE
    assert inc["resolution"] == SUMMARY
    assert [c["text"] for c in stored["comments"]] == [COMMENT]
    created = responder.get_by_test_id("incident-created")
    assert created.get_attribute("datetime") == inc["created"]
    expect(created).to_have_text(vietnam_time(inc["created"]))

    assert requests_made.foreign(soc.url) == []

"""The alert queue as an analyst and as another agency's viewer see it.

Screenshots: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests, Screens
from tests.browser.stack import TENANT_A, TENANT_B, Stack, fresh_replay, otrf_lines
from tests.browser.ui import row_ids, sign_in, vietnam_time

NewPage = Callable[..., Page]


def apply_filters(page: Page) -> None:
    with page.expect_response(lambda r: "/api/v1/alerts?" in r.url):
        page.get_by_test_id("filter-apply").click()


def test_analyst_filters_and_opens_alerts(
    soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    page = new_page()
    sign_in(page, soc.url, "analyst")
    expect(page.get_by_test_id("view-alerts")).to_be_visible()
    expect(page.get_by_test_id("alert-row")).to_have_count(len(soc.alerts[TENANT_A]))
    assert set(row_ids(page)) == soc.alerts[TENANT_A]
    everything = soc.all_alerts(tenant=TENANT_A)
    assert row_ids(page) == [a["id"] for a in everything], "newest first, as the API sorts"
    screens(page, "queue")

    # By severity: the rows become exactly the API's answer for the same filter.
    page.get_by_test_id("filter-severity-high").check()
    apply_filters(page)
    high = [a["id"] for a in soc.all_alerts(tenant=TENANT_A, severity="high")]
    assert 0 < len(high) < len(everything)
    expect(page.get_by_test_id("alert-row")).to_have_count(len(high))
    assert row_ids(page) == high
    assert "severity=high" in page.url
    screens(page, "filter-high")

    # And by words.
    page.get_by_test_id("filter-severity-high").uncheck()
    page.get_by_test_id("filter-q").fill("lsass")
    apply_filters(page)
    lsass = [a["id"] for a in soc.all_alerts(tenant=TENANT_A, q="lsass")]
    assert 0 < len(lsass) < len(everything)
    expect(page.get_by_test_id("alert-row")).to_have_count(len(lsass))
    assert row_ids(page) == lsass
    screens(page, "filter-q-lsass")

    # One alert, opened from the keyboard: its rule, its event's fields and the raw record.
    first = page.get_by_test_id("alert-row").first
    alert = soc.api(f"/alerts/{row_ids(page)[0]}")
    first.get_by_test_id("alert-open").focus()
    page.keyboard.press("Enter")
    detail = page.get_by_test_id("alert-detail")
    expect(detail.get_by_test_id("detail-title")).to_have_text(alert["rule_title"])
    expect(detail).to_contain_text(alert["rule_id"])
    expect(detail.get_by_test_id("event-fields")).to_contain_text("Channel")
    expect(detail.get_by_test_id("event-fields")).to_contain_text(
        str(alert["event"]["fields"]["Channel"])
    )
    detail.locator("details.raw summary").click()
    raw = orjson.loads(detail.get_by_test_id("event-raw").inner_text())
    assert raw == alert["event"]["raw"]
    screens(page, "alert-detail")

    # Times: the API's UTC, shown in Asia/Ho_Chi_Minh (UTC+7).
    shown = detail.get_by_test_id("detail-time")
    assert shown.get_attribute("datetime") == alert["time"]
    expect(shown).to_have_text(vietnam_time(alert["time"]))
    row_time = first.get_by_test_id("alert-time")
    expect(row_time).to_have_text(vietnam_time(alert["time"]))

    # The alert leads to its incident.
    detail.get_by_role("link", name=alert["incident_id"]).click()
    expect(page.get_by_test_id("view-incident")).to_have_attribute("data-id", alert["incident_id"])

    assert requests_made.foreign(soc.url) == []


def test_bulk_status_change(soc: Stack, new_page: NewPage, screens: Screens) -> None:
    page = new_page()
    sign_in(page, soc.url, "lead")
    page.goto(f"{soc.url}/ui/#/alerts?severity=medium")
    rows = page.get_by_test_id("alert-row")
    expect(rows.first).to_be_visible()
    ids = row_ids(page)[:2]
    for i in range(2):
        rows.nth(i).get_by_test_id("alert-select").check()
    expect(page.get_by_test_id("selected-count")).to_have_text("Đã chọn 2")
    screens(page, "selected")
    with page.expect_response("**/api/v1/alerts/bulk") as r:
        page.get_by_test_id("bulk-acknowledged").click()
    assert r.value.json() == {"updated": 2}
    for alert_id in ids:
        expect(page.locator(f"tr[data-id='{alert_id}']")).to_have_attribute(
            "data-status", "acknowledged"
        )
        assert soc.api(f"/alerts/{alert_id}")["status"] == "acknowledged"
    screens(page, "acknowledged")

    for i in range(2):
        rows.nth(i).get_by_test_id("alert-select").check()
    with page.expect_response("**/api/v1/alerts/bulk"):
        page.get_by_test_id("bulk-open").click()
    for alert_id in ids:
        expect(page.locator(f"tr[data-id='{alert_id}']")).to_have_attribute("data-status", "open")


def test_viewer_of_another_agency_sees_none_of_its_alerts(
    soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    page = new_page()
    sign_in(page, soc.url, "viewer")
    expect(page.get_by_test_id("view-alerts")).to_be_visible()
    expect(page.get_by_test_id("alert-row").first).to_be_visible()
    # A viewer may not triage: no checkboxes, no bulk actions.
    expect(page.get_by_test_id("bulkbar")).to_have_count(0)
    expect(page.get_by_test_id("alert-select")).to_have_count(0)
    while page.get_by_test_id("load-more").is_visible():
        before = page.get_by_test_id("alert-row").count()
        page.get_by_test_id("load-more").click()
        expect(page.get_by_test_id("alert-row")).not_to_have_count(before)
    shown = row_ids(page)
    assert set(shown) == soc.alerts[TENANT_B]
    assert not set(shown) & soc.alerts[TENANT_A]
    tenants = page.get_by_test_id("alert-tenant").all_inner_texts()
    assert set(tenants) == {TENANT_B}
    # The tenant filter offers only the viewer's own tenant.
    options = (
        page.get_by_test_id("filter-tenant")
        .locator("option")
        .evaluate_all("os => os.map(o => o.value)")
    )
    assert options == ["", TENANT_B]
    screens(page, "viewer-queue")

    # Words that match tenant A's alerts find nothing here.
    page.get_by_test_id("filter-q").fill("lsass")
    apply_filters(page)
    expect(page.get_by_test_id("alerts-empty")).to_be_visible()
    screens(page, "viewer-lsass-nothing")

    page.get_by_test_id("nav-incidents").click()
    expect(page.get_by_test_id("view-incidents")).to_be_visible()
    expect(page.get_by_test_id("incident-row").first).to_be_visible()
    cells = page.get_by_test_id("incident-row").evaluate_all(
        "rs => rs.map(r => r.lastElementChild.textContent)"
    )
    assert set(cells) == {TENANT_B}
    screens(page, "viewer-incidents")
    assert requests_made.foreign(soc.url) == []


def test_new_alerts_arrive_live(soc: Stack, new_page: NewPage, screens: Screens) -> None:
    """A drill: recorded events re-timed to now (as `soc-connector replay` does) reach the
    open queue through /api/v1/stream, without a reload."""
    page = new_page()
    sign_in(page, soc.url, "analyst")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    before = set(row_ids(page))
    new = soc.add_alerts("ingest-a", TENANT_A, fresh_replay(otrf_lines()))
    assert new and not new & before
    fresh = page.locator("tr.fresh[data-testid=alert-row]")
    expect(fresh).to_have_count(len(new), timeout=30_000)
    shown = set(fresh.evaluate_all("rs => rs.map(r => r.dataset.id)"))
    assert shown == new
    expect(page.get_by_test_id("alert-row")).to_have_count(len(before) + len(new))
    screens(page, "live-alerts")

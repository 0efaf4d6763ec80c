"""Casework in the incident view, what each role is shown, the overview, and signing in and out.

Screenshots: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests, Screens
from tests.browser.stack import PEOPLE, TENANT_A, TENANT_B, Stack, fresh_replay, otrf_lines
from tests.browser.ui import open_ui, sign_in, vietnam_time

NewPage = Callable[..., Page]
RULE = "Unusual File Download from Direct IP Address"


def first_incident(soc: Stack, tenant: str, rule: str | None = None) -> str:
    for a in soc.all_alerts(tenant=tenant):
        if rule is None or a["rule_title"] == rule:
            return str(a["incident_id"])
    raise AssertionError(f"no alert of {rule!r} in {tenant}")


def test_assign_judge_and_export(
    soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    iid = first_incident(soc, TENANT_A, RULE)
    page = new_page()
    sign_in(page, soc.url, "analyst")
    page.goto(f"{soc.url}/ui/#/incidents/{iid}")
    view = page.get_by_test_id("view-incident")
    expect(view).to_have_attribute("data-id", iid)
    expect(page.get_by_test_id("timeline-item").first).to_be_visible()
    version = int(view.get_attribute("data-version") or 0)

    # Assign to me: the write names the version read, and the page shows the new one.
    page.get_by_test_id("assign-me").click()
    expect(page.get_by_test_id("incident-assignee")).to_have_text(PEOPLE["analyst"].username)
    expect(view).not_to_have_attribute("data-version", str(version))

    # A verdict on the first alert of the timeline.
    item = page.get_by_test_id("timeline-item").first
    alert_id = item.get_attribute("data-alert-id")
    with page.expect_response("**/verdicts") as r:
        item.get_by_test_id("verdict-select").select_option("true_positive")
    assert r.value.status == 200
    expect(
        page.get_by_test_id("timeline-item").first.get_by_test_id("verdict-select")
    ).to_have_value("true_positive")
    stored = soc.api(f"/incidents/{iid}")["incident"]
    assert {a["id"]: a["verdict"] for a in stored["alerts"]}[alert_id] == "true_positive"
    assert stored["assignee"] == PEOPLE["analyst"].username
    screens(page, "assigned-and-judged")

    # TLP:GREEN, set from the view; nothing shared yet (the stack's policy shares nothing).
    with page.expect_response("**/tlp") as r:
        page.get_by_test_id("tlp-select").select_option("green")
    assert r.value.status == 200
    expect(page.get_by_test_id("incident-tlp")).to_have_text("TLP:GREEN")
    expect(page.get_by_test_id("incident-shares")).to_contain_text("Chưa chia sẻ ra ngoài SOC.")
    assert soc.api(f"/incidents/{iid}")["incident"]["tlp"] == "green"

    # Evidence (a zip with its manifest) and STIX 2.1, fetched with the session token.
    with page.expect_download() as dl:
        page.get_by_test_id("evidence-download").click()
    data = Path(dl.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "manifest.json" in z.namelist()
    assert dl.value.suggested_filename.endswith(".zip")
    with page.expect_download() as dl:
        page.get_by_test_id("stix-download").click()
    bundle = json.loads(Path(dl.value.path()).read_bytes())
    assert bundle["type"] == "bundle" and bundle["objects"]
    [marking] = [o for o in bundle["objects"] if o["type"] == "marking-definition"]
    assert marking["name"] == "TLP:GREEN"
    assert dl.value.suggested_filename == f"incident-{iid}.stix.json"
    expect(page.get_by_test_id("toast-ok").last).to_contain_text("incident-")
    screens(page, "exported")
    assert requests_made.foreign(soc.url) == []


def test_roles_see_only_their_actions(soc: Stack, new_page: NewPage, screens: Screens) -> None:
    # A viewer reads incidents of their tenant and is offered nothing to do.
    viewer = new_page()
    sign_in(viewer, soc.url, "viewer")
    expect(viewer.get_by_test_id("nav-inbox")).to_have_count(0)
    viewer.goto(f"{soc.url}/ui/#/incidents/{first_incident(soc, TENANT_B)}")
    expect(viewer.get_by_test_id("timeline-item").first).to_be_visible()
    expect(viewer.get_by_test_id("incident-actions").locator("button")).to_have_count(0)
    for testid in [
        "comment-form",
        "assign-form",
        "verdict-select",
        "evidence-download",
        "tlp-select",
        "share-approve",
    ]:
        expect(viewer.get_by_test_id(testid)).to_have_count(0)
    screens(viewer, "viewer-incident")

    # ... and an incident of another tenant is not found at all.
    viewer.goto(f"{soc.url}/ui/#/incidents/{first_incident(soc, TENANT_A)}")
    expect(viewer.get_by_test_id("incident-error")).to_contain_text("(404)")
    screens(viewer, "viewer-other-tenant-404")

    # A responder has no alert queue and no overview of alerts; an analyst no inbox.
    responder = new_page()
    sign_in(responder, soc.url, "responder")
    expect(responder.get_by_test_id("nav-alerts")).to_have_count(0)
    expect(responder.get_by_test_id("nav-inbox")).to_be_visible()
    analyst = new_page()
    sign_in(analyst, soc.url, "analyst")
    expect(analyst.get_by_test_id("nav-inbox")).to_have_count(0)
    expect(analyst.get_by_test_id("bulkbar")).to_be_visible()


def test_overview(soc: Stack, new_page: NewPage, screens: Screens) -> None:
    # A few recorded events resent live, re-timed to now, so the last 24 hours have alerts.
    lines = otrf_lines()[1100:1500]
    soc.add_alerts("ingest-a", TENANT_A, fresh_replay(lines, start=1100))
    page = new_page()
    sign_in(page, soc.url, "lead")
    page.get_by_test_id("nav-overview").click()
    expect(page.get_by_test_id("view-overview")).to_be_visible()
    chart = page.get_by_test_id("alerts-chart")
    expect(chart).to_be_visible()
    with soc.signed_in("lead") as lead:
        data = lead.get("/api/v1/overview").json()
    expect(page.get_by_test_id("stat-open").locator(".stat-value")).to_have_text(
        str(sum(data["open_by_severity"].values()))
    )
    expect(page.get_by_test_id("stat-breached").locator(".stat-value")).to_have_text(
        str(data["breached_open"])
    )
    for severity, n in data["open_by_severity"].items():
        expect(page.get_by_test_id(f"open-sev-{severity}")).to_have_text(str(n))
    assert set(data["open_by_tenant"]) == {TENANT_A}
    bars = chart.locator("rect.chart-bar")
    expect(bars).to_have_count(len(data["alerts_per_hour"]))
    counts = bars.evaluate_all("bs => bs.map(b => Number(b.dataset.count))")
    assert counts == [h["alerts"] for h in data["alerts_per_hour"]]
    assert sum(counts) >= 3
    # Hours are labelled in Vietnam time: the first label is the first hour's UTC + 7.
    first = chart.locator("text.tick").nth(2)
    expect(first).to_have_text(vietnam_time(data["alerts_per_hour"][0]["hour"])[11:13] + "h")
    screens(page, "overview")
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("stat-open").locator(".stat-label")).to_have_text("Open incidents")
    screens(page, "overview-en")


def test_sign_in_errors_and_sign_out(soc: Stack, new_page: NewPage, screens: Screens) -> None:
    page = new_page()
    open_ui(page, soc.url)
    error = page.get_by_test_id("login-error-detail")
    page.get_by_test_id("login-username").fill("khong.co.ai")
    page.get_by_test_id("login-password").fill("sai mat khau hoan toan")
    page.get_by_test_id("login-submit").click()
    expect(error).to_have_text("wrong username or password (401)")
    screens(page, "wrong-password")
    for _ in range(10):  # the limits: a few attempts at once, then one every ten seconds
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("login-submit")).to_be_enabled()
        if "(429)" in (error.text_content() or ""):
            break
    expect(error).to_contain_text("(429)")
    expect(page.get_by_test_id("login-error")).to_contain_text("giây")
    screens(page, "rate-limited")

    sign_in(page, soc.url, "lead")
    token = page.evaluate("sessionStorage.getItem('soc.token')")
    with httpx.Client(base_url=soc.url) as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/v1/auth/me", headers=auth).status_code == 200
        page.get_by_test_id("logout").click()
        expect(page.get_by_test_id("login-form")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('soc.token')") is None
        assert c.get("/api/v1/auth/me", headers=auth).status_code == 401
    screens(page, "signed-out")

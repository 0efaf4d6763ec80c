"""The rules page and the ATT&CK coverage view: the bundled rules listed and searched, a
rule's YAML, a lead turning a rule off for a tenant (and the API agreeing), an analyst
without the buttons, rules and a pack uploaded, and the coverage matrix shaded where the
recorded attack raised alerts; in Vietnamese, then English.

Tenant A's alerts of the last days come from a drill of the bundled OTRF LSASS slice
(each record untouched, re-timed to now): its LSASS access raises the shipped
credential-access rules tagged T1003.00x. What each page must show is asked of the API.

Screenshots: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests, Screens
from tests.browser.stack import TENANT_A, Stack, fresh_replay, otrf_lines
from tests.browser.ui import set_language, sign_in
from tests.bundled_rules import BUNDLED_IDS

NewPage = Callable[..., Page]
UNSHADED = "rgb(19, 26, 35)"
"""The cells' background without shading (app.css --bg-2)."""
LSASS = "4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76"
LSASS_TITLE = "Potentially Suspicious AccessMask Requested From LSASS"
MACOS = "sigma/rules/macos/process_creation/"
APPLESCRIPT = MACOS + "proc_creation_macos_applescript.yml"
APPLESCRIPT_ID = "1bc2e6c5-0885-472b-bed6-be5ea8eace55"
BASE64 = MACOS + "proc_creation_macos_base64_decode.yml"
BASE64_ID = "719c22d7-c11a-4f2c-93a6-2cfdd5412f68"
"""macOS rules: nothing the stack holds is from a Mac, so uploading them raises nothing
that the other tests' expectations do not hold."""


@pytest.fixture(scope="module")
def drilled(soc: Stack) -> Iterator[Stack]:
    """Tenant A's recorded attack replayed now, so the last 7 and 30 days have alerts."""
    new = soc.add_alerts("ingest-a", TENANT_A, fresh_replay(otrf_lines(), start=50_000))
    assert new, "the drill raises alerts"
    yield soc


BURST = """title: Base64 bursts on one host
id: 2f6c9a0e-5b1d-4c7e-8f3a-9d2b4e6a1c05
correlation:
    type: event_count
    rules:
        - {base}
        - not_uploaded_yet
    group-by:
        - Computer
    timespan: 10m
    condition:
        gte: 3
level: medium
"""
"""A correlation of the uploaded pack: one rule it names is in the pack, one nowhere."""


def api_get(soc: Stack, who: str, path: str, **params: Any) -> Any:
    with soc.signed_in(who) as c:
        r = c.get(f"/api/v1{path}", params=params)
        r.raise_for_status()
        return r.json()


def shown_ids(page: Page) -> list[str]:
    expect(page.locator("[data-testid=rules-table][data-loaded=true]")).to_be_attached()
    return list(page.get_by_test_id("rule-row").evaluate_all("rs => rs.map(r => r.dataset.id)"))


def filter_rules(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        control = page.get_by_test_id(f"rules-filter-{name}")
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    with page.expect_response(lambda r: "/api/v1/rules?" in r.url):
        page.get_by_test_id("rules-filter-apply").click()


def test_a_lead_lists_searches_disables_tests_and_uploads_rules(
    drilled: Stack,
    new_page: NewPage,
    screens: Screens,
    requests_made: Requests,
    shared_dir: Path,
) -> None:
    soc = drilled
    page = new_page()
    sign_in(page, soc.url, "lead")
    expect(page.get_by_test_id("nav-rules")).to_have_text("Quy tắc")
    page.get_by_test_id("nav-rules").click()
    expect(page.get_by_test_id("view-rules")).to_be_visible()
    everything = api_get(soc, "lead", "/rules", limit=100)["items"]
    assert {r["id"] for r in everything} == BUNDLED_IDS
    assert sorted(shown_ids(page)) == sorted(r["id"] for r in everything)
    screens(page, "rules-list")

    # Search narrows it; the counts are the API's, for the lead's tenant.
    filter_rules(page, q="lsass")
    found = api_get(soc, "lead", "/rules", q="lsass")["items"]
    assert shown_ids(page) == [r["id"] for r in found] and LSASS in shown_ids(page)
    row = page.locator(f"[data-testid=rule-row][data-id='{LSASS}']")
    counts = next(r for r in found if r["id"] == LSASS)["counts"]
    assert counts["alerts_7d"] >= 1
    expect(row.get_by_test_id("rule-alerts-7d")).to_have_text(str(counts["alerts_7d"]))
    expect(row.get_by_test_id("rule-alerts-30d")).to_have_text(str(counts["alerts_30d"]))
    expect(row.get_by_test_id("rule-fp-share")).to_have_text("0%")
    expect(row.get_by_test_id("rule-enabled")).to_contain_text("Bật")
    screens(page, "search-lsass")

    # The rule's YAML and versions; the lead turns it off for the tenant.
    row.get_by_test_id("rule-link").click()
    expect(page.get_by_test_id("view-rule")).to_be_visible()
    expect(page.get_by_test_id("rule-yaml")).to_contain_text(f"title: {LSASS_TITLE}")
    expect(page.get_by_test_id("rule-version")).to_have_count(1)
    assert page.get_by_test_id("rule-yaml").evaluate("e => getComputedStyle(e).fontFamily")
    expect(page.get_by_test_id("rule-enable-tenant")).to_have_value(TENANT_A)
    try:
        page.get_by_test_id("rule-disable").click()
        expect(page.get_by_test_id("toast-ok")).to_contain_text(TENANT_A)
        expect(page.locator("[data-testid=rule-enablement] [data-on]")).to_have_attribute(
            "data-on", "false"
        )
        with soc.client() as c:
            stored = c.get(f"/api/v1/rules/{LSASS}").json()
        assert (stored["enabled"], stored["tenants"]) == (True, {TENANT_A: False})
        screens(page, "disabled-for-tenant")

        # The list, for the tenant and off: only it, shown off.
        page.get_by_test_id("rules-back").click()
        filter_rules(page, q="", tenant=TENANT_A, enabled="false")
        assert shown_ids(page) == [LSASS]
        expect(page.get_by_test_id("rule-row")).to_have_attribute("data-enabled", "false")
        expect(page.get_by_test_id("rule-row").get_by_test_id("rule-enabled")).to_have_text("Tắt")
        screens(page, "off-for-tenant")

        # A test run: a retro-hunt preview, linked to the hunt page.
        page.get_by_test_id("rule-link").click()
        page.get_by_test_id("rule-test").click()
        page.get_by_test_id("rule-test-hunt").click()
        expect(page.get_by_test_id("view-hunt")).to_be_visible()
        expect(page.get_by_test_id("hunt-rules")).to_contain_text(LSASS_TITLE)
        expect(page.get_by_test_id("hunt-summary")).to_have_attribute("data-state", "done")
        screens(page, "test-run")
    finally:
        with soc.client() as c:
            r = c.post(f"/api/v1/rules/{LSASS}/enable", json={"tenants": [TENANT_A]})
            assert r.status_code == 200, r.text

    # Upload: one rule pasted; then a pack with a good and a broken file.
    page.get_by_test_id("nav-rules").click()
    text = (shared_dir / APPLESCRIPT).read_text(encoding="utf-8")
    page.get_by_test_id("rule-upload-text").fill(text)
    page.get_by_test_id("rule-upload-submit").click()
    accepted = page.locator("[data-testid=upload-file-row][data-accepted=true]")
    expect(accepted.get_by_test_id("upload-rule-link")).to_have_attribute("data-id", APPLESCRIPT_ID)
    expect(page.locator(f"[data-testid=rule-row][data-id='{APPLESCRIPT_ID}']")).to_be_visible()
    broken = (
        (shared_dir / BASE64)
        .read_text(encoding="utf-8")
        .replace("condition:", "condition: nosuch and")
    )
    good = (shared_dir / BASE64).read_text(encoding="utf-8")
    pack = io.BytesIO()
    with zipfile.ZipFile(pack, "w") as z:
        z.writestr("rules/macos/base64.yml", good)
        z.writestr("rules/macos/broken.yml", broken)
        z.writestr("rules/macos/burst.yml", BURST.format(base=BASE64_ID))
    page.get_by_test_id("rule-upload-file").set_input_files(
        {"name": "pack.zip", "mimeType": "application/zip", "buffer": pack.getvalue()}
    )
    page.get_by_test_id("rule-upload-submit").click()
    expect(page.get_by_test_id("upload-summary")).to_contain_text("Nhận 2 tệp, từ chối 1")
    burst = page.locator("[data-testid=upload-file-row][data-name='rules/macos/burst.yml']")
    missing = burst.get_by_test_id("upload-missing-rules")
    expect(missing).to_contain_text("chưa có")
    expect(missing.locator("li")).to_have_count(1)  # the pack's own rule is found
    expect(missing.locator("li")).to_contain_text("'not_uploaded_yet'")
    refused = page.locator("[data-testid=upload-file-row][data-accepted=false]")
    expect(refused).to_have_attribute("data-name", "rules/macos/broken.yml")
    expect(refused.get_by_test_id("upload-reason")).to_contain_text("nosuch")
    expect(page.locator(f"[data-testid=rule-row][data-id='{BASE64_ID}']")).to_be_visible()
    screens(page, "uploaded")
    listed = {r["id"] for r in api_get(soc, "lead", "/rules", q="macos")["items"]}
    assert {APPLESCRIPT_ID, BASE64_ID} <= listed

    # In English.
    set_language(page, "en")
    expect(page.get_by_test_id("nav-rules")).to_have_text("Rules")
    expect(page.locator("th", has_text="Alerts 7 days")).to_be_visible()
    screens(page, "rules-en")
    assert requests_made.foreign(soc.url) == []


def test_an_analyst_reads_rules_without_the_lead_buttons(
    drilled: Stack, new_page: NewPage, screens: Screens
) -> None:
    page = new_page()
    sign_in(page, drilled.url, "analyst")
    page.get_by_test_id("nav-rules").click()
    expect(page.get_by_test_id("view-rules")).to_be_visible()
    expect(page.get_by_test_id("rule-row").first).to_be_visible()
    expect(page.get_by_test_id("rule-upload")).to_have_count(0)
    page.goto(f"{drilled.url}/ui/#/rules/{LSASS}")
    expect(page.get_by_test_id("rule-yaml")).to_contain_text(f"title: {LSASS_TITLE}")
    expect(page.get_by_test_id("rule-disable")).to_have_count(0)
    expect(page.get_by_test_id("rule-enable")).to_have_count(0)
    expect(page.get_by_test_id("rule-test")).to_have_count(0)
    screens(page, "analyst-rule")
    with drilled.signed_in("analyst") as c:
        r = c.post(f"/api/v1/rules/{LSASS}/disable", json={"tenants": [TENANT_A]})
    assert r.status_code == 403, "the server refuses what the page does not offer"


def test_coverage_shades_credential_access_and_lists_the_rules(
    drilled: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    soc = drilled
    page = new_page()
    sign_in(page, soc.url, "analyst")
    page.get_by_test_id("nav-rules").click()
    page.get_by_test_id("tab-coverage").click()
    expect(page.get_by_test_id("view-coverage")).to_be_visible()
    expect(page.get_by_test_id("nav-rules")).to_have_attribute("aria-current", "page")
    data = api_get(soc, "analyst", "/rules/coverage", days=30)
    column = next(c for c in data["tactics"] if c["tactic"] == "credential-access")
    t1003 = next(c for c in column["cells"] if c["technique"] == "T1003")
    assert t1003["alerts"] >= 1 and t1003["enabled_rules"] >= 3
    tactics = page.get_by_test_id("coverage-tactic")
    assert tactics.evaluate_all("cs => cs.map(c => c.dataset.tactic)") == [
        c["tactic"] for c in data["tactics"]
    ]
    cell = page.locator(
        "[data-testid=coverage-tactic][data-tactic=credential-access] "
        "[data-testid=coverage-cell][data-technique=T1003]"
    )
    expect(cell).to_have_attribute("data-enabled", str(t1003["enabled_rules"]))
    assert int(cell.get_attribute("data-shade") or 0) > 0
    assert cell.evaluate("e => getComputedStyle(e).backgroundColor") != UNSHADED
    screens(page, "coverage-rules")

    # Shaded by alerts of the last 7 days.
    page.get_by_test_id("coverage-mode-alerts").click()
    page.get_by_test_id("coverage-days-7").click()
    expect(
        page.locator("[data-testid=view-coverage][data-mode=alerts][data-days='7']")
    ).to_be_visible()
    week = api_get(soc, "analyst", "/rules/coverage", days=7)
    week_cell = next(
        c
        for col in week["tactics"]
        if col["tactic"] == "credential-access"
        for c in col["cells"]
        if c["technique"] == "T1003"
    )
    assert week_cell["alerts"] >= 1
    expect(cell).to_have_attribute("data-alerts", str(week_cell["alerts"]))
    assert int(cell.get_attribute("data-shade") or 0) > 0
    unfired = page.locator(
        "[data-testid=coverage-tactic][data-tactic=initial-access] "
        "[data-testid=coverage-cell][data-technique=T1190]"
    )
    expect(unfired).to_have_attribute("data-shade", "0")

    # A click lists the cell's rules, each a link to its page.
    cell.click()
    rows = page.get_by_test_id("coverage-rule")
    expect(rows).to_have_count(len(t1003["rules"]))
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.id)")) == sorted(t1003["rules"])
    screens(page, "coverage-cell")
    page.locator(f"[data-testid=coverage-rule][data-id='{LSASS}'] a").click()
    expect(page.get_by_test_id("rule-title")).to_have_text(LSASS_TITLE)
    page.go_back()

    set_language(page, "en")
    expect(page.get_by_test_id("tab-coverage")).to_have_text("ATT&CK coverage")
    expect(
        page.locator("[data-testid=coverage-tactic][data-tactic=credential-access] .cov-tactic")
    ).to_have_text("Credential Access")
    screens(page, "coverage-en")
    assert requests_made.foreign(soc.url) == []

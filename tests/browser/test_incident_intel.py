"""Threat intel in an incident, in the browser, against a real TAXII 2.1 server (medallion):

1. the recorded auth.log's SSH brute force is ingested for tenant A, then the national feed
   publishes the attacker's address (TLP:GREEN, confidence 90) and the SOC polls it;
2. a lead retro-hunts that indicator from #/intel over the days of the events: the page says
   how many alerts the hunt raised (the stream had seen the events before the indicator);
3. the incident of those "indicator match" alerts marks the attacker's address among its
   observables, with the indicator's value, source (the feed), TLP in words and confidence;
4. the lead approves sharing it (the tenant's policy: on a lead's approval); the share job
   pushes it to the platform's collection on medallion, and the incident's sharing panel
   says "Đã chia sẻ với Nền tảng quốc gia lúc ..." with the time in Asia/Ho_Chi_Minh.

Screenshots of every step: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stix2
from playwright.sync_api import Page, expect
from taxii2client.v21 import Collection as TaxiiCollection

from soc.intel.alerts import RULE_ID
from soc.settings import FeedSettings, IntelSettings, SharingSettings
from tests.browser.conftest import Requests, Screens
from tests.browser.stack import TENANT_A, Stack, auth_log_envelopes, bare_stack
from tests.browser.ui import set_language, sign_in, vietnam_time
from tests.correlating import ATTACKER
from tests.taxii.medallion import Collection, Medallion, medallion

NewPage = Callable[..., Page]
FEED, SHARE = "national-feed", "soc-share"
WAIT_S = 60.0
FIRST, LAST = 2700, 2900
"""Lines of the recorded auth.log ingested: part of the brute force from ATTACKER."""


@pytest.fixture(scope="module")
def taxii() -> Iterator[Medallion]:
    with medallion(
        [Collection(FEED, "National indicators"), Collection(SHARE, "Shared incidents")]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def intel_soc(tmp_path_factory: pytest.TempPathFactory, taxii: Medallion) -> Iterator[Stack]:
    intel = IntelSettings(
        feeds=[
            FeedSettings(
                name="national",
                collection_url=taxii.collection_url(FEED),
                user=taxii.user,
                password=taxii.password,
                interval_s=1,
            )
        ]
    )
    sharing = SharingSettings.model_validate(
        {
            "targets": {
                "national": {
                    "collection_url": taxii.collection_url(SHARE),
                    "user": taxii.user,
                    "password": taxii.password,
                    "timeout_s": 5,
                }
            },
            "tenants": {TENANT_A: {"when": "approval", "targets": ["national"], "publish": False}},
            "watch_s": 0.3,
            "send_s": 0.3,
            "retry_min_s": 0.2,
            "retry_max_s": 1,
            "status_wait_s": 10,
        }
    )
    yield from bare_stack(tmp_path_factory.mktemp("soc-inc-intel"), intel=intel, sharing=sharing)


def _until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.25)
    return got


def _publish_indicator(taxii: Medallion) -> None:
    made = stix2.Indicator(
        name="SSH brute force (national platform)",
        pattern=f"[ipv4-addr:value = '{ATTACKER}']",
        pattern_type="stix",
        confidence=90,
        object_marking_refs=[stix2.TLP_GREEN],
    )
    bundle = {
        "type": "bundle",
        "id": f"bundle--{made.id[11:]}",
        "objects": [json.loads(made.serialize())],
    }
    feed = TaxiiCollection(taxii.collection_url(FEED), user=taxii.user, password=taxii.password)
    status = feed.add_objects(json.dumps(bundle))
    assert status.success_count == 1


def _vietnam_day(utc_iso: str, days: int = 0) -> str:
    return (datetime.fromisoformat(vietnam_time(utc_iso)) + timedelta(days=days)).strftime(
        "%Y-%m-%d"
    )


def test_indicator_hunted_shown_on_the_incident_and_shared(
    intel_soc: Stack,
    taxii: Medallion,
    shared_dir: Path,
    new_page: NewPage,
    screens: Screens,
    requests_made: Requests,
) -> None:
    soc = intel_soc
    lines = auth_log_envelopes(shared_dir, LAST)[FIRST:]
    assert sum(ATTACKER.encode() in line for line in lines) > 20
    soc.add_alerts("ingest-a", TENANT_A, lines)
    stored = soc.all_alerts(tenant=TENANT_A)
    assert stored and not [a for a in stored if a["rule_id"] == RULE_ID]
    times = sorted(a["time"] for a in stored)

    # the feed publishes the attacker's address; the SOC's poller takes it in
    _publish_indicator(taxii)
    [indicator] = _until(
        lambda: soc.api("/indicators", q=ATTACKER)["items"], "the feed's indicator arrives"
    )
    assert indicator["source"] == "national" and indicator["tlp"] == "green"

    # the lead retro-hunts it from #/intel over the events' days
    page = new_page()
    sign_in(page, soc.url, "lead")
    set_language(page, "vi")
    page.get_by_test_id("nav-intel").click()
    row = page.locator(f"tr[data-testid=intel-indicator-row][data-value='{ATTACKER}']")
    row.get_by_test_id("intel-hunt-start").click()
    dialog = page.get_by_test_id("dialog-hunt")
    expect(dialog.get_by_test_id("dialog-until")).to_have_value(
        _vietnam_day(datetime.now(UTC).isoformat())
    )
    dialog.get_by_test_id("dialog-since").fill(_vietnam_day(times[0], -1))
    dialog.get_by_test_id("dialog-until").fill(_vietnam_day(times[-1]))
    with page.expect_response("**/indicators/hunt") as r:
        dialog.get_by_test_id("dialog-submit").click()
    outcome = r.value.json()
    assert r.value.status == 200 and outcome["raised"] > 20
    result = page.get_by_test_id("intel-hunt-result")
    expect(result).to_have_attribute("data-raised", str(outcome["raised"]))
    expect(result).to_contain_text(f"tạo {outcome['raised']} cảnh báo mới")
    screens(page, "retro-hunt")

    # its alerts are grouped into an incident, which marks the attacker's address
    def hunted() -> list[dict[str, Any]]:
        found = [a for a in soc.all_alerts(tenant=TENANT_A) if a["rule_id"] == RULE_ID]
        done = len(found) == outcome["raised"] and all(a.get("incident_id") for a in found)
        return found if done else []

    hits = _until(hunted, "the hunt's alerts are grouped")
    iid = hits[0]["incident_id"]
    page.goto(f"{soc.url}/ui/#/incidents/{iid}")
    observable = page.locator(f"tr[data-testid=observable][data-value='{ATTACKER}']")
    expect(observable).to_have_attribute("data-matched", "true")
    expect(observable.get_by_test_id("observable-matched")).to_have_text("Khớp chỉ dấu")
    [match] = observable.get_by_test_id("observable-indicator").all()
    expect(match.get_by_test_id("indicator-value")).to_have_text(ATTACKER)
    expect(match.get_by_test_id("indicator-source")).to_have_text("national")
    expect(match.get_by_test_id("indicator-tlp")).to_have_text("TLP:GREEN")
    expect(match.get_by_test_id("indicator-confidence")).to_have_text("90")
    expect(page.locator("tr[data-testid=observable][data-matched=true]")).to_have_count(1)
    expect(page.get_by_test_id("observables-matched")).to_contain_text("1 dấu hiệu khớp")
    screens(page, "incident-matched")
    set_language(page, "en")
    expect(observable.get_by_test_id("observable-matched")).to_have_text("Matched an indicator")
    set_language(page, "vi")

    # the lead approves sharing; the share lands in the platform's collection
    with page.expect_response(f"**/incidents/{iid}/share") as r:
        page.get_by_test_id("share-approve").click()
    assert r.value.status == 202

    def shared() -> dict[str, Any] | None:
        jobs = [v["job"] for v in soc.api(f"/incidents/{iid}/shares")]
        return next((j for j in jobs if j["state"] == "shared"), None)

    job = _until(shared, "the share is accepted by medallion")
    held = taxii.objects(SHARE)
    assert [o for o in held if o["type"] == "incident"]
    assert ATTACKER in {o.get("value") for o in held if o["type"] == "ipv4-addr"}
    page.reload()
    share = page.locator("[data-testid=share][data-state=shared]")
    expect(share.locator("strong")).to_have_text(
        f"Đã chia sẻ với Nền tảng quốc gia lúc {vietnam_time(job['shared_at'])}"
    )
    screens(page, "shared")
    assert requests_made.foreign(soc.url) == []

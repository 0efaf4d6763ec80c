"""Threat intel in the browser (#/intel): the TAXII feeds polled from a real medallion
server (one answering, one refusing) with their last poll in Vietnam time and the error,
indicators counted by source and type, the list with its search, a lead's paste box and
revoke button; an analyst of the other tenant sees neither the paste box nor the lead's
tenant's indicators. Nothing is loaded from anywhere but the SOC.

Screenshots of every step: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stix2
from playwright.sync_api import Page, expect

from soc.api.server import free_port
from soc.settings import FeedSettings, IntelSettings
from tests.browser.conftest import Requests, Screens
from tests.browser.stack import TENANT_A, Stack, bare_stack
from tests.browser.ui import set_language, sign_in, vietnam_time
from tests.taxii.medallion import Collection, Medallion, medallion

NewPage = Callable[..., Page]
ALIAS = "national"
WAIT_S = 60.0


def _indicators() -> list[dict[str, Any]]:
    made = [
        stix2.Indicator(
            name="SSH brute force (national platform)",
            pattern="[ipv4-addr:value = '203.0.113.45' OR ipv4-addr:value = '198.51.100.0/24']",
            pattern_type="stix",
            object_marking_refs=[stix2.TLP_GREEN],
        ),
        stix2.Indicator(
            name="Dropper",
            pattern="[domain-name:value = 'update-portal.example.net']",
            pattern_type="stix",
            object_marking_refs=[stix2.TLP_AMBER],
        ),
    ]
    return [json.loads(i.serialize()) for i in made]


@pytest.fixture(scope="module")
def taxii() -> Iterator[Medallion]:
    with medallion([Collection(ALIAS, "National feed", objects=_indicators())]) as server:
        yield server


@pytest.fixture(scope="module")
def intel_soc(tmp_path_factory: pytest.TempPathFactory, taxii: Medallion) -> Iterator[Stack]:
    intel = IntelSettings(
        feeds=[
            FeedSettings(
                name="national",
                collection_url=taxii.collection_url(ALIAS),
                user=taxii.user,
                password=taxii.password,
            ),
            FeedSettings(  # nothing listens there: every poll fails
                name="isac-down",
                collection_url=f"http://127.0.0.1:{free_port()}/api1/collections/x/",
                tenant=TENANT_A,
            ),
        ]
    )
    yield from bare_stack(tmp_path_factory.mktemp("soc-intel"), intel=intel)


def _polled(soc: Stack) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = {f["name"]: f for f in soc.api("/intel/feeds")["feeds"]}
        national, down = found.get("national"), found.get("isac-down")
        if (
            national
            and (national["state"] or {}).get("last_success")
            and down
            and (down["state"] or {}).get("last_error")
        ):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def test_intel_page_feeds_counts_paste_and_revoke(
    intel_soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    soc = intel_soc
    feeds = _polled(soc)

    page = new_page()
    sign_in(page, soc.url, "lead")
    set_language(page, "vi")
    page.get_by_test_id("nav-intel").click()
    view = page.get_by_test_id("view-intel")
    expect(view.locator("h1")).to_have_text("Tình báo mối đe dọa")

    national = page.locator("tr[data-testid=intel-feed-row][data-feed=national]")
    last_poll = feeds["national"]["state"]["last_poll"]
    expect(national.get_by_test_id("intel-feed-last-poll")).to_have_text(vietnam_time(last_poll))
    expect(national.get_by_test_id("intel-feed-error")).to_have_text("không có")
    expect(national.get_by_test_id("intel-feed-counts")).to_have_text(
        "IP 1 · Dải mạng 1 · Tên miền 1"
    )
    down = page.locator("tr[data-testid=intel-feed-row][data-feed=isac-down]")
    expect(down.get_by_test_id("intel-feed-error")).to_contain_text("cannot connect")
    screens(page, "feeds")

    # the lead of hue-ioc pastes a list for their tenant: one line refused, by its number
    page.get_by_test_id("intel-paste-text").fill("192.0.2.66\nnot a value\nphish.example.org")
    expect(page.get_by_test_id("intel-paste-tenant")).to_have_value(TENANT_A)
    page.get_by_test_id("intel-paste-submit").click()
    expect(page.get_by_test_id("intel-paste-summary")).to_contain_text("2 chỉ dấu")
    expect(page.get_by_test_id("intel-paste-reject")).to_have_text(
        ["line 2: one value per line (a note goes after '#')"]
    )
    source = page.locator(
        f"tr[data-testid=intel-source-row][data-source='paste:tran.thi.binh'][data-tenant={TENANT_A}]"
    )
    expect(source.get_by_test_id("intel-source-ip")).to_have_text("1")
    expect(source.get_by_test_id("intel-source-domain")).to_have_text("1")
    screens(page, "pasted")

    # search, then revoke the pasted address; the national ones have no revoke button here
    page.get_by_test_id("intel-q").fill("192.0.2.66")
    row = page.locator("tr[data-testid=intel-indicator-row][data-value='192.0.2.66']")
    expect(page.get_by_test_id("intel-indicator-row")).to_have_count(1)
    page.once("dialog", lambda d: d.accept())
    row.get_by_test_id("intel-revoke").click()
    expect(row).to_have_attribute("data-state", "revoked")
    expect(row.get_by_test_id("intel-state")).to_have_text("Đã thu hồi")
    expect(source.get_by_test_id("intel-source-revoked")).to_have_text("1")
    page.get_by_test_id("intel-q").fill("")
    national_row = page.locator("tr[data-testid=intel-indicator-row][data-value='203.0.113.45']")
    expect(national_row.get_by_test_id("intel-tlp")).to_have_text("TLP:GREEN")
    expect(national_row.get_by_test_id("intel-revoke")).to_have_count(0)
    set_language(page, "en")
    expect(view.locator("h1")).to_have_text("Threat intel")
    screens(page, "english")

    # the other tenant's analyst: no paste box, no hue-ioc indicator, nor its failing feed
    other = new_page()
    sign_in(other, soc.url, "analyst_b")
    other.get_by_test_id("nav-intel").click()
    expect(other.get_by_test_id("intel-feed-row")).to_have_count(1)
    expect(other.get_by_test_id("intel-paste")).to_have_count(0)
    expect(other.get_by_test_id("intel-indicator-row")).to_have_count(3)
    expect(other.locator("tr[data-value='192.0.2.66']")).to_have_count(0)
    screens(other, "other-tenant")
    assert requests_made.foreign(soc.url) == []

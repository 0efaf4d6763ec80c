"""Log sources in the browser (#/sources): every feed of the analyst's tenant, worst first,
with its state in words, its last event in Vietnam time and its 24 hours as a sparkline;
the filter by state; another tenant's analyst sees only their own.

The service is a fresh one with the accounts and no data (stack.bare_stack), whose
sources' settings make each state quick to reach: ``mail-01`` is expected every second
(late after 1 s, silent only after 600), ``dc-01`` every millisecond (silent at once),
and a gap in the ledger is lost as soon as it is seen (``grace_s`` 0). Recorded auth.log
lines are posted as connectors number them (``origin``: connector, source, stream, seq);
``db-01`` skips seqs 10-19; ``web-01`` also sends a heartbeat with a backlog, and
``fw-02`` only heartbeats (every 0.1 s, then nothing: silent). Tenant B's ``bastion-01``
sends with B's ingest key.

Screenshots of every step: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Locator, Page, expect

from soc.settings import ExpectedInterval, SourcesSettings
from tests.browser.conftest import Requests, Screens
from tests.browser.stack import TENANT_A, TENANT_B, Stack, bare_stack
from tests.browser.ui import set_language, sign_in, vietnam_time

NewPage = Callable[..., Page]
AUTH = "/var/log/auth.log"
SOURCE = "linux-auth"
ORDER = ["dc-01", "fw-02", "db-01", "mail-01", "web-01"]
"""Tenant A's sources as the page lists them: silent, silent, losing, late, healthy."""
STATES = {
    "dc-01": "silent",
    "fw-02": "silent",
    "db-01": "losing",
    "mail-01": "late",
    "web-01": "healthy",
}
VI = {"silent": "Im lặng", "losing": "Mất dữ liệu", "late": "Chậm", "healthy": "Bình thường"}
EN = {"silent": "Silent", "losing": "Losing data", "late": "Late", "healthy": "Healthy"}
PAD = 2.0
"""The sparkline's margin (js/sparkline.js): the highest count is drawn at y = PAD."""
WAIT_S = 60.0


@pytest.fixture(scope="module")
def sources_soc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    sources = SourcesSettings(
        expected=[
            ExpectedInterval(connector="mail-01", interval_s=1),
            ExpectedInterval(connector="dc-01", interval_s=0.001, severity="high"),
        ],
        silent_factor=600,
        grace_s=0,
        snapshot_s=0.3,
        reconcile_s=0.5,
        watch_s=0.5,
    )
    yield from bare_stack(tmp_path_factory.mktemp("soc-sources"), sources=sources)


def post(soc: Stack, key: str, lines: list[str], connector: str, seqs: list[int]) -> None:
    """Recorded lines as connector ``connector`` sends them, numbered ``seqs``."""
    body = b"\n".join(
        orjson.dumps(
            {
                "record": {"message": lines[seq]},
                "origin": {"connector": connector, "source": SOURCE, "stream": AUTH, "seq": seq},
            }
        )
        for seq in seqs
    )
    with soc.client(key) as c:
        r = c.post("/api/v1/ingest", params={"source": SOURCE}, content=body)
        assert r.status_code == 200 and r.json()["accepted"] == len(seqs), r.text


def heartbeat(soc: Stack, beat: dict[str, Any]) -> None:
    with soc.client("ingest-a") as c:
        r = c.post("/api/v1/heartbeat", json=beat)
        assert r.status_code == 204, r.text


def wait_for(soc: Stack, path: str, check: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = soc.api(path)
        if check(found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def by_connector(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["connector"]: s for s in found}


def feed(soc: Stack, shared: Path) -> None:
    """Tenant A's five sources and tenant B's one, each in its state."""
    lines = (shared / "datasets/linux/auth.log").read_text("utf-8").splitlines()[:60]
    post(soc, "ingest-a", lines, "web-01", list(range(40)))
    post(soc, "ingest-a", lines, "mail-01", list(range(12)))
    post(soc, "ingest-a", lines, "dc-01", list(range(5)))
    post(soc, "ingest-a", lines, "db-01", [*range(10), *range(20, 30)])
    post(soc, "ingest-b", lines, "bastion-01", list(range(8)))
    with soc.client("ingest-a") as c:  # a line no parser reads: a dead letter of linux-auth
        r = c.post("/api/v1/ingest", params={"source": SOURCE}, content=b"not json at all\n")
        assert r.status_code == 200 and r.json()["accepted"] == 0, r.text
    # The heartbeat says 0-39 were delivered: sent once the ledger holds all 40.
    wait_for(
        soc,
        "/sources/ledger",
        lambda r: any(s["connector"] == "web-01" and s["records"] == 40 for s in r["streams"]),
    )
    heartbeat(
        soc,
        {
            "connector": "web-01",
            "version": "1.4.0",
            "host": "web-01.hue.gov.vn",
            "interval_s": 3600,
            "streams": [
                {"source": SOURCE, "stream": AUTH, "seq": 39, "backlog": 7, "oldest_s": 12}
            ],
        },
    )
    heartbeat(
        soc,
        {
            "connector": "fw-02",
            "version": "1.4.0",
            "host": "fw-02.hue.gov.vn",
            "interval_s": 0.1,
            "streams": [{"source": "syslog", "stream": "udp:514"}],
        },
    )

    def ready(found: list[dict[str, Any]]) -> bool:
        got = by_connector(found)
        return (
            {c: s["state"] for c, s in got.items() if s["tenant"] == TENANT_A} == STATES
            and got.get("bastion-01", {}).get("events_24h") == 8
            and got["web-01"]["events_24h"] == 40
            and got["web-01"]["backlog"] == 7
            and got["db-01"]["lost"] == 10
            and got["web-01"]["dead_letters_24h"] == 1
        )

    wait_for(soc, "/sources", ready)


def rows(page: Page) -> Locator:
    return page.get_by_test_id("source-row")


def connectors(page: Page) -> list[str]:
    return [str(c) for c in rows(page).evaluate_all("rs => rs.map(r => r.dataset.connector)")]


def row_of(page: Page, connector: str) -> Locator:
    return page.locator(f"tr[data-testid=source-row][data-connector='{connector}']")


def check_sparkline(row: Locator, hourly: list[int]) -> None:
    spark = row.get_by_test_id("source-sparkline")
    expect(spark).to_have_attribute("data-points", "24")
    expect(spark).to_have_attribute("data-max", str(max(hourly)))
    points = [
        tuple(float(v) for v in p.split(","))
        for p in str(spark.locator("polyline").get_attribute("points")).split()
    ]
    assert len(points) == 24
    ys = [y for _, y in points]
    if max(hourly):
        # The highest hour touches the top; every hour's height follows its count.
        assert ys[hourly.index(max(hourly))] == PAD
        assert [y == PAD for y in ys] == [n == max(hourly) for n in hourly]
    else:
        assert len(set(ys)) == 1
    label = str(spark.get_attribute("aria-label"))
    assert ", ".join(map(str, hourly)) in label and label.endswith(f" {max(hourly)}.")
    expect(spark.locator("title")).to_have_text(label)


def test_sources_page_lists_states_sparklines_and_filters(
    sources_soc: Stack,
    shared_dir: Path,
    new_page: NewPage,
    screens: Screens,
    requests_made: Requests,
) -> None:
    soc = sources_soc

    # Nothing has sent anything yet: the page says so.
    analyst = new_page()
    sign_in(analyst, soc.url, "analyst")
    expect(analyst.get_by_test_id("nav-sources")).to_have_text("Nguồn log")
    analyst.get_by_test_id("nav-sources").click()
    expect(analyst.get_by_test_id("view-sources")).to_be_visible()
    expect(analyst.get_by_test_id("sources-empty")).to_be_visible()
    expect(analyst.get_by_test_id("sources-empty")).to_contain_text("Chưa có nguồn log nào")
    expect(rows(analyst)).to_have_count(0)
    screens(analyst, "empty")

    feed(soc, shared_dir)
    with soc.signed_in("analyst") as c:
        r = c.get("/api/v1/sources")
        assert r.status_code == 200, r.text
        mine = by_connector(r.json())
    assert set(mine) == set(ORDER)  # tenant B's bastion-01 is not the analyst's

    # The page, in Vietnamese: worst first, each state in words.
    analyst.get_by_test_id("sources-refresh").click()
    expect(rows(analyst)).to_have_count(5)
    assert connectors(analyst) == ORDER
    expect(analyst.locator("h1")).to_have_text("Nguồn log")
    for connector, state in STATES.items():
        row = row_of(analyst, connector)
        expect(row).to_have_attribute("data-state", state)
        badge = row.get_by_test_id("source-state")
        expect(badge).to_have_text(VI[state])
        expect(badge).to_have_attribute("data-value", state)
        expect(row.get_by_test_id("source-tenant")).to_have_text(TENANT_A)
    screens(analyst, "sources-vi")

    for connector, s in mine.items():
        row = row_of(analyst, connector)
        expect(row.get_by_test_id("source-connector")).to_have_text(connector)
        expect(row.get_by_test_id("source-stream")).to_have_text(s["stream"])
        expect(row.get_by_test_id("source-events-1h")).to_have_text(str(s["events_1h"]))
        expect(row.get_by_test_id("source-events-24h")).to_have_text(str(s["events_24h"]))
        expect(row.get_by_test_id("source-lost")).to_have_text(str(s["lost"]))
        expect(row.get_by_test_id("source-backlog")).to_have_text(str(s["backlog"]))
        expect(row.get_by_test_id("source-dead-letters")).to_have_text(str(s["dead_letters_24h"]))
        expect(row.get_by_test_id("source-parse-errors")).to_have_text(str(s["parse_errors_24h"]))
        check_sparkline(row, s["hourly"])
        if s["last_event"]:
            # Shown in Huế's time, the UTC value kept in the element.
            last = row.get_by_test_id("source-last-event")
            expect(last).to_have_text(vietnam_time(s["last_event"]))
            expect(last).to_have_attribute("datetime", s["last_event"])

    web = row_of(analyst, "web-01")
    assert mine["web-01"]["events_24h"] == 40 and max(mine["web-01"]["hourly"]) >= 20
    expect(web.get_by_test_id("source-host")).to_have_text("web-01.hue.gov.vn")
    expect(web.get_by_test_id("source-version")).to_have_text("1.4.0")
    expect(web.get_by_test_id("source-backlog")).to_have_text("7")
    expect(web.get_by_test_id("source-last-seen")).to_have_text(
        vietnam_time(mine["web-01"]["last_seen"])
    )
    expect(web.get_by_test_id("source-heartbeat-state")).to_have_text("Bình thường")
    expect(web.get_by_test_id("source-interval")).to_have_text("1 giờ 0 phút")
    expect(web.get_by_test_id("source-interval-from")).to_have_text("mặc định")
    expect(web.get_by_test_id("source-dead-letters")).to_have_text("1")
    mail = row_of(analyst, "mail-01")
    expect(mail.get_by_test_id("source-interval")).to_have_text("1 giây")
    expect(mail.get_by_test_id("source-interval-from")).to_have_text("cấu hình")
    expect(row_of(analyst, "db-01").get_by_test_id("source-lost")).to_have_text("10")
    fw = row_of(analyst, "fw-02")  # heartbeats only: no event, its heartbeat silent
    expect(fw.get_by_test_id("source-last-event")).to_have_text("—")
    expect(fw.get_by_test_id("source-heartbeat-state")).to_have_text("Im lặng")
    expect(fw.get_by_test_id("source-dead-letters")).to_have_text("0")
    expect(fw.get_by_test_id("source-sparkline")).to_have_attribute("data-max", "0")

    # The filter by state, kept in the link.
    expect(analyst.get_by_test_id("sources-filter-silent")).to_have_text("Im lặng (2)")
    analyst.get_by_test_id("sources-filter-silent").click()
    expect(rows(analyst)).to_have_count(2)
    assert connectors(analyst) == ["dc-01", "fw-02"]
    assert analyst.url.endswith("#/sources?state=silent")
    expect(analyst.get_by_test_id("sources-filter-silent")).to_have_attribute(
        "aria-pressed", "true"
    )
    screens(analyst, "filter-silent")
    analyst.get_by_test_id("sources-filter-losing").click()
    expect(rows(analyst)).to_have_count(1)
    assert connectors(analyst) == ["db-01"]
    analyst.get_by_test_id("sources-filter-all").click()
    expect(rows(analyst)).to_have_count(5)
    analyst.goto(f"{soc.url}/ui/#/sources?state=late")
    expect(analyst.get_by_test_id("view-sources")).to_have_attribute("data-filter", "late")
    expect(rows(analyst)).to_have_count(1)
    assert connectors(analyst) == ["mail-01"]

    # In English: the same rows, words and labels in English, times still in Huế's time.
    set_language(analyst, "en")
    expect(analyst.get_by_test_id("nav-sources")).to_have_text("Log sources")
    analyst.get_by_test_id("sources-filter-all").click()
    expect(rows(analyst)).to_have_count(5)
    assert connectors(analyst) == ORDER
    expect(analyst.locator("h1")).to_have_text("Log sources")
    for connector, state in STATES.items():
        expect(row_of(analyst, connector).get_by_test_id("source-state")).to_have_text(EN[state])
    expect(analyst.get_by_test_id("sources-filter-healthy")).to_have_text("Healthy (1)")
    expect(web.get_by_test_id("source-interval-from")).to_have_text("default")
    expect(web.get_by_test_id("source-interval")).to_have_text("1 h 0 min")
    expect(web.get_by_test_id("source-last-event")).to_have_text(
        vietnam_time(mine["web-01"]["last_event"])
    )
    label = str(web.get_by_test_id("source-sparkline").get_attribute("aria-label"))
    assert label.startswith("Events per hour from ") and "(Vietnam time)" in label
    check_sparkline(web, mine["web-01"]["hourly"])
    screens(analyst, "sources-en")
    analyst.get_by_test_id("sources-filter-healthy").click()
    assert connectors(analyst) == ["web-01"]
    set_language(analyst, "vi")

    # Tenant B's analyst sees B's source only.
    other = new_page()
    sign_in(other, soc.url, "analyst_b")
    other.get_by_test_id("nav-sources").click()
    expect(rows(other)).to_have_count(1)
    assert connectors(other) == ["bastion-01"]
    expect(other.get_by_test_id("source-tenant")).to_have_text(TENANT_B)
    expect(other.get_by_test_id("source-state")).to_have_text("Bình thường")
    screens(other, "other-tenant")

    assert requests_made.foreign(soc.url) == []

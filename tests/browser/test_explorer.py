"""The event explorer over stored recorded events: query, fields, narrowing, errors, zoom, pivots.

Tenant A's events are the bundled OTRF slice (2023-08-15, 09:53-09:59 UTC), stored
by the running service as it ingested them. What each page must show is asked of
the API with the same query and range, so the rows are exactly the server's answer.

Screenshots: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests, Screens
from tests.browser.stack import TENANT_A, Stack
from tests.browser.test_incident import RULE, first_incident
from tests.browser.ui import row_ids, sign_in, vietnam_time

NewPage = Callable[..., Page]
SINCE, UNTIL = "2023-08-15T09:50:00+00:00", "2023-08-15T10:05:00+00:00"


def events(soc: Stack, **params: Any) -> dict[str, Any]:
    """The first page the explorer must show (tenant A, as the analyst sees it)."""
    with soc.signed_in("analyst") as c:
        r = c.get("/api/v1/events", params={"limit": 50, **params})
        r.raise_for_status()
        page: dict[str, Any] = r.json()
        return page


def state(page: Page) -> dict[str, str]:
    """The explorer's state as the link carries it."""
    fragment = urlsplit(page.url).fragment
    query = fragment.split("?", 1)[1] if "?" in fragment else ""
    return {k: v[0] for k, v in parse_qs(query).items()}


def search(page: Page, q: str) -> None:
    page.get_by_test_id("explorer-q").fill(q)
    with page.expect_response(lambda r: "/api/v1/events?" in r.url):
        page.get_by_test_id("explorer-search").click()


def shows(page: Page, expected: list[str]) -> None:
    """The table is loaded and holds exactly these events, in this order."""
    expect(page.locator("[data-testid=events-table][data-loaded=true]")).to_be_attached()
    expect(page.get_by_test_id("event-row")).to_have_count(len(expected))
    assert row_ids(page, "event-row") == expected


def test_query_expand_narrow_and_page(
    soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests
) -> None:
    page = new_page()
    sign_in(page, soc.url, "analyst")
    page.get_by_test_id("nav-events").click()
    expect(page.get_by_test_id("view-events")).to_be_visible()

    # A range typed in Vietnam time, and a query.
    page.get_by_test_id("explorer-from").fill("2023-08-15 16:50:00")
    page.get_by_test_id("explorer-to").fill("2023-08-15 17:05")
    search(page, "EventID:10")
    expected = events(soc, q="EventID:10", since=SINCE, until=UNTIL)
    assert len(expected["items"]) == 50 and expected["next_cursor"]
    shows(page, [e["id"] for e in expected["items"]])
    assert state(page) == {
        "q": "EventID:10",
        "from": "2023-08-15T09:50:00.000Z",
        "to": "2023-08-15T10:05:00.000Z",
    }
    first = expected["items"][0]
    expect(page.get_by_test_id("event-time").first).to_have_text(vietnam_time(first["time"]))
    expect(page.get_by_test_id("event-summary").first).to_contain_text("EventID=10")
    expect(page.get_by_test_id("events-histogram")).to_be_visible()
    screens(page, "query")

    # The next page comes from next_cursor.
    page.get_by_test_id("events-more").click()
    second = events(soc, q="EventID:10", since=SINCE, until=UNTIL, cursor=expected["next_cursor"])
    expect(page.get_by_test_id("event-row")).to_have_count(100)
    assert row_ids(page, "event-row") == [e["id"] for e in expected["items"] + second["items"]]

    # A row opens to its normalized fields and its raw record.
    page.get_by_test_id("event-open").first.click()
    detail = page.get_by_test_id("event-detail-row")
    expect(detail).to_have_attribute("data-id", first["id"])
    fields = detail.get_by_test_id("event-fields")
    expect(fields.locator("tr[data-field=GrantedAccess] td")).to_have_text(
        first["fields"]["GrantedAccess"]
    )
    expect(detail.get_by_test_id("event-raw")).to_contain_text(
        first["raw"]["TargetImage"].replace("\\", "\\\\")
    )
    screens(page, "expanded")

    # A field's name shows its commonest values among the query's events.
    fields.locator("tr[data-field=SourceImage]").get_by_test_id("field-stats").click()
    with soc.signed_in("analyst") as c:
        params = {"field": "SourceImage", "q": "EventID:10", "since": SINCE, "until": UNTIL}
        top = c.get("/api/v1/events/stats", params=params).json()
    rows = page.get_by_test_id("field-top-row")
    expect(rows).to_have_count(len(top["values"]))
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.value)") == [
        v["value"] for v in top["values"]
    ]
    expect(rows.first.locator("td.num")).to_have_text(str(top["values"][0]["count"]))
    screens(page, "top-values")

    # One click on a value narrows the query to it.
    access = first["fields"]["GrantedAccess"]
    with page.expect_response(lambda r: "/api/v1/events?" in r.url):
        fields.locator("tr[data-field=GrantedAccess]").get_by_test_id("field-value").click()
    narrowed = f"EventID:10 AND GrantedAccess:{access}"
    expect(page.get_by_test_id("explorer-q")).to_have_value(narrowed)
    assert state(page)["q"] == narrowed and state(page)["from"] == "2023-08-15T09:50:00.000Z"
    fewer = events(soc, q=narrowed, since=SINCE, until=UNTIL)
    shows(page, [e["id"] for e in fewer["items"]])
    assert all(e["fields"]["GrantedAccess"] == access for e in fewer["items"])
    screens(page, "narrowed")
    assert requests_made.foreign(soc.url) == []


def test_a_malformed_query_shows_its_column(
    soc: Stack, new_page: NewPage, screens: Screens
) -> None:
    page = new_page()
    sign_in(page, soc.url, "analyst")
    page.goto(f"{soc.url}/ui/#/events?from=2023-08-15T09:50:00Z&to=2023-08-15T10:05:00Z")
    expect(page.get_by_test_id("view-events")).to_be_visible()
    search(page, "EventID:(10 OR")
    error = page.get_by_test_id("query-error")
    expect(error).to_have_attribute("data-column", "15")
    expect(error).to_contain_text("15")
    expect(page.get_by_test_id("query-error-caret")).to_have_text(
        "EventID:(10 OR\n" + " " * 14 + "^"
    )
    screens(page, "error-vi")
    page.get_by_test_id("lang-toggle").click()
    expect(error).to_contain_text("The query is wrong at column 15")
    screens(page, "error-en")
    search(page, "EventID:10")
    expect(page.get_by_test_id("query-error")).to_have_count(0)


def test_a_histogram_bar_zooms_to_its_bucket(
    soc: Stack, new_page: NewPage, screens: Screens
) -> None:
    page = new_page()
    sign_in(page, soc.url, "analyst")
    page.goto(f"{soc.url}/ui/#/events?q=lsass&from=2023-08-15T09:50:00Z&to=2023-08-15T10:05:00Z")
    chart = page.get_by_test_id("events-histogram")
    expect(chart).to_be_visible()
    with soc.signed_in("analyst") as c:
        hist = c.get(
            "/api/v1/events/histogram",
            params={"q": "lsass", "since": SINCE, "until": UNTIL, "buckets": 60},
        ).json()
    bars = page.get_by_test_id("histogram-bar")
    expect(bars).to_have_count(len(hist["buckets"]))
    counts = bars.evaluate_all("bs => bs.map(b => Number(b.dataset.count))")
    assert counts == [b["count"] for b in hist["buckets"]] and sum(counts) > 0
    busiest = max(range(len(counts)), key=lambda i: counts[i])
    start = hist["buckets"][busiest]["start"]
    screens(page, "histogram")

    with page.expect_response(lambda r: "/api/v1/events/histogram?" in r.url):
        bars.nth(busiest).click()
    begin = datetime.fromisoformat(start)
    end = begin + timedelta(seconds=hist["bucket_s"])
    link = state(page)
    assert link["q"] == "lsass"
    assert datetime.fromisoformat(link["from"]) == begin
    assert datetime.fromisoformat(link["to"]) == end
    inside = events(soc, q="lsass", since=begin.isoformat(), until=end.isoformat())
    shows(page, [e["id"] for e in inside["items"]])
    assert all(begin <= datetime.fromisoformat(e["time"]) < end for e in inside["items"])
    expect(page.get_by_test_id("explorer-from")).to_have_value(vietnam_time(begin.isoformat()))
    expect(page.get_by_test_id("explorer-to")).to_have_value(vietnam_time(end.isoformat()))
    screens(page, "zoomed")


def test_an_observable_pivots_to_its_events(
    soc: Stack, new_page: NewPage, screens: Screens
) -> None:
    iid = first_incident(soc, TENANT_A, RULE)
    incident = soc.api(f"/incidents/{iid}")["incident"]
    event_ids = {soc.api(f"/alerts/{a['id']}")["event_id"] for a in incident["alerts"]}
    ips = [o for o in incident["observables"] if o["type"] == "ip"]
    hosts = [o for o in incident["observables"] if o["type"] == "host" and o["field"] == "host"]
    assert ips and hosts, incident["observables"]
    page = new_page()
    sign_in(page, soc.url, "analyst")
    page.goto(f"{soc.url}/ui/#/incidents/{iid}")
    host_row = page.locator(
        f"[data-testid=observable][data-type=host][data-value='{hosts[0]['value']}']"
    )
    href = host_row.get_by_test_id("observable-pivot").get_attribute("href") or ""
    assert parse_qs(href.split("?", 1)[1])["q"] == [f'host:"{hosts[0]["value"]}"']

    ip = ips[0]["value"]
    row = page.locator(f"[data-testid=observable][data-type=ip][data-value='{ip}']")
    screens(page, "incident")
    row.get_by_test_id("observable-pivot").click()
    expect(page.get_by_test_id("view-events")).to_be_visible()
    expect(page.get_by_test_id("explorer-q")).to_have_value(f'"{ip}"')
    since = datetime.fromisoformat(incident["first_seen"]) - timedelta(hours=1)
    until = datetime.fromisoformat(incident["last_seen"]) + timedelta(hours=1)
    link = state(page)
    assert datetime.fromisoformat(link["from"]) == since
    assert datetime.fromisoformat(link["to"]) == until
    found = events(soc, q=f'"{ip}"', since=since.isoformat(), until=until.isoformat(), limit=500)
    ids = [e["id"] for e in found["items"]]
    assert event_ids & set(ids), "the incident's own event is among the pivot's"
    shows(page, ids[:50])
    screens(page, "pivot")

"""The Retro-hunt page: a lead pastes a new rule and reads its matches; a loaded rule's hunt
raises nothing the detector already raised, and its matches open their alerts.

Both hunts run over tenant A's stored events of 2023-08-15 (Vietnam time): the
recorded OTRF slice as the stack ingested it (the other tests' drills are re-timed to now).
The pasted rule is SigmaHQ's "Local Accounts Discovery", which is not among the
stack's rules: a preview, so the other tests' alerts stay as they are.

Screenshots: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, expect

from soc.detect.rule import make_alert
from soc.hunt.rules import hunt_rules
from soc.models import Event
from tests.browser.conftest import Requests, Screens
from tests.browser.stack import TENANT_A, Stack
from tests.browser.ui import set_language, sign_in

NewPage = Callable[..., Page]
NEW_RULE = (
    "sigma/rules/windows/process_creation/"
    "proc_creation_win_susp_local_system_owner_account_discovery.yml"
)
SINCE = datetime(2023, 8, 14, 17, tzinfo=UTC)
UNTIL = datetime(2023, 8, 15, 17, tzinfo=UTC)
"""2023-08-15 in Vietnam time (UTC+7): the day of the recording."""
LOADED = "025bd229-fd1f-4fdb-97ab-20006e1a5368"
"""A stack rule that fired on the slice: Unusual File Download from Direct IP Address."""


def expected_matches(soc: Stack, text: str) -> set[str]:
    """The alert ids the detector's matching gives for the rule on tenant A's stored events
    of the recording's day (read from the service's SQLite file directly, not through the
    hunt's own scan; the other tests' drills are re-timed to now, so they are left out)."""
    engine = hunt_rules(soc.settings.detect, text=text).engine()
    path = soc.settings.store.sqlite.path
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        docs = db.execute("SELECT doc FROM events WHERE tenant = ?", (TENANT_A,)).fetchall()
    events = [Event.model_validate_json(doc) for (doc,) in docs]
    events = [e for e in events if SINCE <= e.time < UNTIL]
    assert events, "the stack stored tenant A's events"
    return {make_alert(rule, e).id for e in events for rule in engine.match(e)}


def start_hunt(page: Page, *, text: str = "", ids: str = "", mode: str) -> None:
    """Over the day of the recording, in Vietnam time."""
    page.get_by_test_id("nav-hunts").click()
    expect(page.get_by_test_id("view-hunts")).to_be_visible()
    page.get_by_test_id("hunt-rule-text").fill(text)
    page.get_by_test_id("hunt-rule-ids").fill(ids)
    page.get_by_test_id("hunt-since").fill("2023-08-15 00:00")
    page.get_by_test_id("hunt-until").fill("2023-08-16 00:00")
    page.get_by_test_id("hunt-mode").select_option(mode)
    page.get_by_test_id("hunt-submit").click()
    expect(page.get_by_test_id("view-hunt")).to_be_visible()
    expect(page.get_by_test_id("hunt-summary")).to_have_attribute("data-state", "done")


def test_a_lead_hunts_stored_events_from_the_page(
    soc: Stack, new_page: NewPage, screens: Screens, requests_made: Requests, shared_dir: Path
) -> None:
    text = (shared_dir / NEW_RULE).read_text(encoding="utf-8")
    expected = expected_matches(soc, text)
    assert len(expected) == 4
    page = new_page()
    sign_in(page, soc.url, "lead")
    expect(page.get_by_test_id("nav-hunts")).to_have_text("Săn lại")

    # A bad rule is refused with the reason, and nothing starts.
    page.get_by_test_id("nav-hunts").click()
    page.get_by_test_id("hunt-rule-text").fill("title: broken\nlogsource: {product: windows}\n")
    page.get_by_test_id("hunt-submit").click()
    expect(page.get_by_test_id("hunt-error-detail")).to_contain_text("(400)")
    screens(page, "bad-rule")

    # A pasted rule, previewed: its matches are the detector's, none raised.
    start_hunt(page, text=text, mode="preview")
    rows = page.get_by_test_id("match-row")
    expect(rows).to_have_count(len(expected))
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.alertId)")) == expected
    expect(page.get_by_test_id("hunt-matches")).to_have_text(str(len(expected)))
    expect(page.get_by_test_id("hunt-raised")).to_have_text("0")
    expect(page.get_by_test_id("match-alert-none")).to_have_count(len(expected))
    link = rows.first.get_by_test_id("match-event")
    href = link.get_attribute("href") or ""
    assert href.startswith("#/events?from=2023-08-15T") and "host%3A" in href
    expect(page.get_by_test_id("hunt-rules")).to_contain_text("Local Accounts Discovery")
    screens(page, "preview-results")
    hunt_id = page.get_by_test_id("view-hunt").get_attribute("data-id")

    # A loaded rule, raising: the detector raised its alerts already, so none is raised,
    # and each match opens its alert.
    start_hunt(page, ids=LOADED, mode="raise")
    expect(page.get_by_test_id("hunt-raised")).to_have_text("0")
    alerts = page.get_by_test_id("match-alert")
    expect(page.get_by_test_id("hunt-matches")).to_have_text("2")
    expect(alerts).to_have_count(2)
    alerts.first.click()
    expect(page.get_by_test_id("detail-title")).to_have_text(
        "Unusual File Download from Direct IP Address"
    )
    screens(page, "loaded-rule-alert")

    # The list shows both, newest first, in English too.
    page.get_by_test_id("hunts-back").click()
    listed = page.get_by_test_id("hunt-row")
    expect(listed).to_have_count(2)
    assert listed.evaluate_all("rs => rs.map(r => r.dataset.state)") == ["done", "done"]
    assert listed.nth(1).get_attribute("data-id") == hunt_id
    set_language(page, "en")
    expect(page.get_by_test_id("nav-hunts")).to_have_text("Retro-hunt")
    expect(listed.first.get_by_test_id("hunt-state")).to_have_text("Done")
    screens(page, "hunt-list-en")
    assert requests_made.foreign(soc.url) == []
    with soc.client() as c:
        stored = c.get(f"/api/v1/hunts/{hunt_id}").json()
    assert stored["mode"] == "preview" and stored["rules"][0]["title"] == "Local Accounts Discovery"

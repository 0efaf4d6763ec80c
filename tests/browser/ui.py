"""Steps in the UI that several tests take, written as a person would take them."""

from __future__ import annotations

from datetime import datetime, timedelta

from playwright.sync_api import Page, expect

from tests.browser.stack import PEOPLE


def open_ui(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def sign_in(page: Page, base: str, who: str) -> None:
    """Sign in through the login form as one of the test's people."""
    person = PEOPLE[who]
    open_ui(page, base)
    page.get_by_test_id("login-username").fill(person.username)
    page.get_by_test_id("login-password").fill(person.password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("whoami-name")).to_have_text(person.display_name)


def sign_in_with_key(page: Page, base: str, token: str) -> None:
    open_ui(page, base)
    page.locator("details.login-key summary").click()
    page.get_by_test_id("login-key").fill(token)
    page.get_by_test_id("login-key-submit").click()
    expect(page.get_by_test_id("whoami")).to_be_visible()


def row_ids(page: Page, testid: str = "alert-row") -> list[str]:
    return [i for i in page.get_by_test_id(testid).evaluate_all("rs => rs.map(r => r.dataset.id)")]


def set_language(page: Page, lang: str) -> None:
    if page.evaluate("document.documentElement.lang") != lang:
        page.get_by_test_id("lang-toggle").click()
    expect(page.locator(f"html[lang={lang}]")).to_be_attached()


def vietnam_time(utc_iso: str) -> str:
    """What the UI must show for a UTC time from the API: Asia/Ho_Chi_Minh, UTC+7."""
    utc = datetime.fromisoformat(utc_iso.replace("Z", "+00:00"))
    assert utc.utcoffset() == timedelta(0), utc_iso
    return (utc + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M:%S")

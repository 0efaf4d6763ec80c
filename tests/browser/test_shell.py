"""The UI's shell: served by the service with a strict policy, bilingual, nothing from outside.

Screenshots: build/artifacts/browser/<test name>/NN-<step>.png
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests, Screens
from tests.browser.stack import Stack
from tests.browser.ui import open_ui, set_language

UI_FILES = ["", "app.css", "js/main.js", "js/views/alerts.js", "i18n/vi.json", "favicon.svg"]


def test_served_under_ui_with_a_strict_policy(soc: Stack) -> None:
    with httpx.Client(base_url=soc.url) as c:
        r = c.get("/")
        assert r.status_code == 307 and r.headers["location"] == "/ui/"
        for path in UI_FILES:
            r = c.get(f"/ui/{path}")
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert "frame-ancestors 'none'" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get("/ui/js/main.js").headers["content-type"].startswith("text/javascript")
        assert c.get("/ui/").headers["content-type"].startswith("text/html")
        for bad in ["nope.js", "../routes/ui.py", "..%2F..%2Fapp.py", "js/../../routes/ui.py"]:
            assert c.get(f"/ui/{bad}").status_code == 404, bad
        # The pages hold no data: no credential is needed to load them, only for the API.
        assert c.get("/api/v1/alerts").status_code == 401


def test_language_switch_is_remembered(
    soc: Stack, new_page: Callable[..., Page], screens: Screens, requests_made: Requests
) -> None:
    page = new_page()
    open_ui(page, soc.url)
    # Vietnamese by default, with its diacritics.
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("h1")).to_have_text("Đăng nhập")
    expect(page.get_by_label("Tên đăng nhập")).to_be_visible()
    expect(page.get_by_test_id("tz-note")).to_have_text("Thời gian theo giờ Việt Nam (UTC+7)")
    screens(page, "login-vi")

    set_language(page, "en")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_test_id("login-submit")).to_have_text("Sign in")
    expect(page.get_by_test_id("tz-note")).to_have_text("Times in Vietnam time (UTC+7)")
    screens(page, "login-en")

    page.reload()
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("h1")).to_have_text("Sign in")
    set_language(page, "vi")
    expect(page.get_by_test_id("login-submit")).to_have_text("Đăng nhập")

    assert requests_made.urls, "the page loaded nothing?"
    assert requests_made.foreign(soc.url) == []

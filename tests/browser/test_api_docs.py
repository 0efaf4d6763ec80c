"""The API docs in the real Chromium: Swagger UI at /docs (where /redoc leads) renders the
service's schema with nothing fetched from another host and nothing refused by the policy
(the new_page fixture fails the test on a policy violation or a script error)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Requests
from tests.browser.stack import Stack


def test_swagger_ui_renders_offline(
    soc: Stack, new_page: Callable[..., Page], requests_made: Requests
) -> None:
    page = new_page()
    page.goto(f"{soc.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SOC event ingestion")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/alerts").first).to_be_visible()

    page.goto(f"{soc.url}/redoc")
    expect(page).to_have_url(f"{soc.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SOC event ingestion")

    assert requests_made.foreign(soc.url) == []
    assert any(u.endswith("/docs/static/swagger-ui-bundle.js") for u in requests_made.urls)

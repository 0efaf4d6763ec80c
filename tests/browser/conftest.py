"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and the real service.

Chromium comes from the distribution (`apt-get install chromium`, which `make test`
does when it is missing); Playwright's own browser downloads are not used. Without
/usr/bin/chromium these tests are skipped, and under CI=1 they fail instead, so
they can never be skipped silently there.

Screenshots of each step are written to build/artifacts/browser/<test name>/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from tests.browser.stack import ROOT, Stack, running_stack

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "build/artifacts/browser"
VIEWPORT = ViewportSize(width=1440, height=900)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium (apt-get install chromium)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here and "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = os.environ.get("SOC_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).is_file():
        return path
    message = "Chromium is not installed: run `make browser` (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="package")
def browser(chromium: str) -> Iterator[Browser]:
    # Package scope: Playwright's sync API keeps an event loop running in this thread
    # until it stops, which would break every asyncio test collected after this folder.
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="package")
def soc(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Iterator[Stack]:
    """The service on a free port with recorded data of two tenants and four people."""
    yield from running_stack(tmp_path_factory.mktemp("soc"), shared_dir)


@dataclass
class Screens:
    """Numbered screenshots of one test, in build/artifacts/browser/<test>/."""

    folder: Path
    n: int = 0

    def __call__(self, page: Page, step: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screens(request: pytest.FixtureRequest) -> Screens:
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Screens(folder)


@dataclass
class Requests:
    """Every request the pages of a test made, to prove nothing left the SOC's own server."""

    urls: list[str] = field(default_factory=list)

    def foreign(self, base: str) -> list[str]:
        origin = urlsplit(base).netloc
        return [
            u
            for u in self.urls
            if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != origin
        ]


@pytest.fixture
def requests_made() -> Requests:
    return Requests()


@pytest.fixture
def new_page(browser: Browser, requests_made: Requests) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts (a context: one person's browser), requests recorded.

    Any uncaught error in the UI's JavaScript, and anything the Content-Security-Policy
    refused, fails the test.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(locale: str = "vi-VN") -> Page:
        ctx = browser.new_context(viewport=VIEWPORT, locale=locale, accept_downloads=True)
        ctx.set_default_timeout(15_000)
        ctx.on("request", lambda r: requests_made.urls.append(r.url))
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        page.on(
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert errors == [], "the UI raised JavaScript errors"

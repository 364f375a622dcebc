"""A real server on loopback and Debian's Chromium, shared by the browser tests; a fresh
browser context (its own storage) per test.

Playwright's sync API keeps an event loop running in the test thread while it is open, and
no asyncio test can run beside it: it is opened for this package and closed after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from tests.service import Server, server
from tests.web.browser import TIMEOUT_MS, Playground, launch, loopback_context


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    expect.set_options(timeout=TIMEOUT_MS)  # the default, 5 s, is short for a busy machine
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    found = launch(playwright)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="package")
def web_server() -> Iterator[Server]:
    with server(workers=2) as s:
        yield s


@pytest.fixture
def playground(browser: Browser, web_server: Server) -> Iterator[Playground]:
    """The page in a fresh context, on a desktop-sized window."""
    with loopback_context(browser, web_server.url, viewport={"width": 1280, "height": 900}) as c:
        page = Playground(c.new_page(), web_server.url + "/")
        yield page
        assert page.errors == [], "uncaught errors in the page"

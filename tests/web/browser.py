"""Drive the playground in Debian's headless Chromium with Playwright: the launch options and
a page object that does what a person does (type, click, press keys) and reads what they see.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect

CHROMIUM = "/usr/bin/chromium"

#: No sandbox (we run as root), no GPU, and nothing that reaches the network by itself.
#: Playwright's launch() gives each browser a fresh temporary user data dir of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Every wait on the page is bounded by this (jobs run in a real sandbox on a shared machine).
TIMEOUT_MS = 45_000
LAUNCH_TIMEOUT_MS = 60_000


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
    )


@contextmanager
def loopback_context(browser: Browser, origin: str, **options: Any) -> Iterator[BrowserContext]:
    """A fresh context (its own storage) whose requests may only go to origin: anything
    else is aborted and fails the test."""
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    elsewhere: list[str] = []

    def refuse(route: Any) -> None:
        elsewhere.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(origin), refuse)
    try:
        yield context
    finally:
        context.close()
    assert elsewhere == [], f"the page reached beyond {origin}: {elsewhere}"


class Playground:
    """The page, as a person uses it."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str | None = None) -> Playground:
        self.page.goto(url or self.url)
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")
        return self

    # --- reading ------------------------------------------------------------------
    @property
    def editor(self) -> Locator:
        return self.page.locator("#editor .cm-content")

    @property
    def code(self) -> str:
        """The code as the editor shows it (one .cm-line per line)."""
        return "\n".join(self.page.locator("#editor .cm-line").all_text_contents())

    @property
    def badge(self) -> Locator:
        return self.page.locator("#badge")

    def row(self, number: int) -> Locator:
        return self.page.locator(f"#verdict-rows tr[data-case='{number}']")

    def case(self, number: int) -> Locator:
        return self.page.locator("#cases > li").nth(number - 1)

    # --- doing --------------------------------------------------------------------
    def type_code(self, code: str) -> None:
        """Replace the code by typing it, key by key, as a person would."""
        self.editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.press("Delete")
        self.page.keyboard.type(code)

    def paste_code(self, code: str) -> None:
        """Replace the code with a block of text at once (as a paste: no auto-indent)."""
        self.editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(code)

    def remove_all_cases(self) -> None:
        cases = self.page.locator("#cases > li")
        while cases.count():
            cases.first.get_by_role("button", name="Remove").click()

    def add_case(self, stdin: str, expected: str, name: str = "") -> None:
        self.page.click("#add-case")
        case = self.page.locator("#cases > li").last
        case.locator("[data-field=stdin]").fill(stdin)
        case.locator("[data-field=expected_stdout]").fill(expected)
        if name:
            case.locator("[data-field=name]").fill(name)

    def run(self) -> None:
        self.page.click("#run")

    def run_tests(self) -> None:
        self.page.click("#judge")

    def wait_outcome(self, kind: str) -> None:
        expect(self.badge).to_be_visible()
        expect(self.badge).to_have_text(kind)

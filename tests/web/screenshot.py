"""Make the screenshots in docs/ and measure the page weight, with the real service.

    .venv/bin/python -m tests.web.screenshot

Starts `onpyrunner serve` on loopback, opens the page in Debian's Chromium, and writes
docs/playground.png (a run), docs/playground-judge.png (a judge run with a wrong answer),
docs/playground-performance.png (a performance score against a reference),
docs/playground-phone-dark.png (a phone in the dark scheme), and docs/dashboard.png and
docs/dashboard-phone-dark.png (the dashboard after a mix of jobs); then prints what the page
loads, as sent over the wire (gzipped), for docs/playground.md.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Request, sync_playwright

from bench.history import fake_rows
from onpyrunner.history.store import HistoryStore
from tests.judge import programs
from tests.service import ROOT, Server, server
from tests.web.browser import Playground, launch, loopback_context

DOCS = ROOT / "docs"

PROGRAM = """\
# Sum the numbers on each line of stdin.
import sys

for number, line in enumerate(sys.stdin, 1):
    values = [int(v) for v in line.split()]
    print(f"line {number}: {len(values)} numbers, sum {sum(values)}")
"""
STDIN = "1 2 3\n10 20\n7\n"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def page_weight(browser: Browser, api: Server) -> list[tuple[str, int]]:
    """Each request of a first visit, with the bytes of its body as received."""
    loaded: list[Request] = []
    with loopback_context(browser, api.url) as context:
        page = context.new_page()
        page.on("requestfinished", lambda request: loaded.append(request))
        Playground(page, api.url + "/").open()
        page.wait_for_load_state("networkidle")
        return [(r.url.removeprefix(api.url), r.sizes()["responseBodySize"]) for r in loaded]


def run_shot(browser: Browser, api: Server, path: Path) -> None:
    desktop: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
    with loopback_context(browser, api.url, **desktop) as context:
        playground = Playground(context.new_page(), api.url + "/").open()
        playground.paste_code(PROGRAM)
        playground.page.fill("#stdin", STDIN)
        playground.run()
        playground.wait_outcome("SUCCESS")
        playground.page.evaluate("scrollTo(0, 0)")
        playground.page.screenshot(path=path)


def judge_shot(browser: Browser, api: Server, path: Path) -> None:
    desktop: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
    with loopback_context(browser, api.url, **desktop) as context:
        playground = Playground(context.new_page(), api.url + "/").open()
        playground.paste_code("a, b = map(int, input().split())\nprint(a + b)\n")
        playground.remove_all_cases()
        playground.add_case("2 3\n", "5\n", name="small")
        playground.add_case("-4 4\n", "0\n", name="negative")
        playground.add_case("10 20\n", "40\n", name="wrong on purpose")
        playground.add_case("1000000 1\n", "1000001\n", name="large")
        playground.run_tests()
        playground.wait_outcome("WRONG_ANSWER")
        playground.page.evaluate("scrollTo(0, document.body.scrollHeight)")
        playground.page.screenshot(path=path)


def performance_shot(browser: Browser, api: Server, path: Path) -> None:
    """An O(n^2) solution measured against an O(n log n) reference."""
    desktop: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
    with loopback_context(browser, api.url, **desktop) as context:
        playground = Playground(context.new_page(), api.url + "/").open()
        playground.paste_code(programs.QUADRATIC)
        playground.remove_all_cases()
        for seed in (1, 2):
            case = programs.case(1500, seed)
            name = f"1500 numbers #{seed}"
            playground.add_case(case["stdin"], case["expected_stdout"], name=name)
        playground.page.check("#perf-on")
        playground.page.fill("#perf-code", programs.FENWICK)
        playground.page.fill("#perf-repeat", "3")
        playground.run_tests()
        playground.wait_outcome("ACCEPTED")
        playground.page.locator("#result").scroll_into_view_if_needed()
        playground.page.screenshot(path=path)


def phone_shot(browser: Browser, api: Server, path: Path) -> None:
    phone: dict[str, Any] = {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "color_scheme": "dark",
    }
    with loopback_context(browser, api.url, **phone) as context:
        playground = Playground(context.new_page(), api.url + "/").open()
        playground.run()
        playground.wait_outcome("SUCCESS")
        # the result sits below the inputs on a phone: the page brings it into view
        playground.page.locator("#result").scroll_into_view_if_needed()
        playground.page.screenshot(path=path)


#: The jobs run before the dashboard's screenshots: a mix of outcomes and languages.
MIX: list[dict[str, Any]] = [
    {"source_code": "print(sum(range(10**6)))"},
    {"source_code": "print(input())", "stdin": "hello\n"},
    {"source_code": "1 / 0"},
    {"source_code": "while True: pass", "limits": {"cpu_time_ms": 300}},
    {"source_code": "x = ' ' * (1 << 30)", "limits": {"memory_mb": 64}},
    {"language": "c", "source_code": '#include <stdio.h>\nint main(){puts("hi");}'},
    {"language": "bash", "source_code": "echo hi"},
]


def _past_hour(api: Server) -> None:
    """An hour of a busy server's history (made up, written into the server's SQLite
    history through the store's bulk path, from a thread: Playwright's loop is running)."""
    path = Path(api.data_dir) / "history.sqlite3"

    async def write() -> None:
        store = HistoryStore(f"sqlite+aiosqlite:///{path}")
        try:
            rows = fake_rows(6000, span_s=3600)
            for i in range(0, len(rows), 1000):
                await store.insert_rows(rows[i : i + 1000])
        finally:
            await store.close()

    thread = threading.Thread(target=asyncio.run, args=(write(),))
    thread.start()
    thread.join(120)


def dashboard_shots(browser: Browser, api: Server, desktop: Path, phone: Path) -> None:
    _past_hour(api)
    offered = {lang["id"] for lang in api.http.get("/languages").json()}
    for _ in range(6):
        for body in MIX:
            if body.get("language", "python") in offered:
                api.run(body)
    deadline = time.monotonic() + 60
    while api.http.get("/history", params={"limit": 1}).json()["entries"] == []:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)  # the writer's last batch
    for path, options in (
        (desktop, {"viewport": {"width": 1280, "height": 900}}),
        (
            phone,
            {
                "viewport": {"width": 390, "height": 844},
                "device_scale_factor": 2,
                "is_mobile": True,
                "color_scheme": "dark",
            },
        ),
    ):
        with loopback_context(browser, api.url, **options) as context:
            page = context.new_page()
            page.goto(api.url + "/dashboard")
            page.wait_for_selector("body[data-ready=true]")
            page.screenshot(path=path, full_page=True)


def main() -> int:
    with server(workers=2) as api, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            weights = page_weight(browser, api)
            run_shot(browser, api, DOCS / "playground.png")
            judge_shot(browser, api, DOCS / "playground-judge.png")
            performance_shot(browser, api, DOCS / "playground-performance.png")
            phone_shot(browser, api, DOCS / "playground-phone-dark.png")
            dashboard_shots(browser, api, DOCS / "dashboard.png", DOCS / "dashboard-phone-dark.png")
        finally:
            browser.close()
    _out("What a first visit loads (bytes as received, gzipped where the server gzips):")
    for url, size in weights:
        _out(f"  {size:>9,}  {url}")
    total = sum(size for _, size in weights)
    _out(f"  {total:>9,}  total ({total / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The dashboard in a real browser (Debian's Chromium) against a real server, its sandbox and
its SQLite history."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from onpyrunner.history import records
from onpyrunner.history.store import HistoryStore
from onpyrunner.models import JobStatus
from tests.history.jobs import ended_job
from tests.service import Server
from tests.web.browser import loopback_context

pytestmark = pytest.mark.sandbox

#: What the dashboard may ask the server for: its own files and the public API.
PUBLIC = ("/dashboard", "/assets/", "/stats", "/history", "/health")


def _write_failed_job(data_dir: str) -> str:
    """A FAILED job written into the server's own history (the sandbox rarely fails on
    purpose), through the history store, from a thread of its own (no event loop may run
    beside Playwright's)."""
    job = ended_job(status=JobStatus.FAILED, outcome=None, language="c")
    path = Path(data_dir) / "history.sqlite3"

    async def write() -> None:
        store = HistoryStore(f"sqlite+aiosqlite:///{path}")
        try:
            await store.insert_rows([records.row_of(job)])
        finally:
            await store.close()

    thread = threading.Thread(target=asyncio.run, args=(write(),))
    thread.start()
    thread.join(60)
    return job.id


def _wait_history(api: Server, jobs: int) -> dict[str, Any]:
    """/stats once it counts at least `jobs` (the writer's flush is time that must pass)."""
    deadline = time.monotonic() + 60
    while True:
        stats: dict[str, Any] = api.http.get("/stats", params={"bucket": "1m"}).json()
        if stats["jobs"] >= jobs:
            return stats
        assert time.monotonic() < deadline, "the history never caught up"
        time.sleep(0.2)


def _open(page: Page, url: str) -> list[Request]:
    asked: list[Request] = []
    page.on("request", lambda r: asked.append(r))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/dashboard")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    assert errors == []
    return asked


def test_dashboard_shows_what_ran_from_the_public_api_only(
    browser: Browser, web_server: Server
) -> None:
    before = web_server.http.get("/stats", params={"bucket": "1m"}).json()["jobs"]
    for i in range(4):
        web_server.run({"source_code": f"print({i})" if i else "1 / 0"})
    failed = _write_failed_job(web_server.data_dir)
    stats = _wait_history(web_server, before + 5)

    with loopback_context(browser, web_server.url, viewport={"width": 1280, "height": 900}) as c:
        page = c.new_page()
        asked = _open(page, web_server.url)
        expect(page.locator("#fig-jobs")).to_have_text(f"{stats['jobs']:,}")
        expect(page.locator("#fig-workers")).to_have_text("1")
        # the charts are drawn, with a legend entry per outcome seen and per stage
        expect(page.locator("#rate-chart canvas")).to_have_count(1)
        for outcome in ("SUCCESS", "RUNTIME_ERROR", "FAILED"):
            expect(page.locator("#rate-chart .u-legend")).to_contain_text(outcome)
        expect(page.locator("#latency-chart .u-legend")).to_contain_text("end to end p95")
        expect(page.locator("#queue-chart canvas")).to_have_count(1)
        # the languages' mix, and the failure with a link to its history entry
        expect(page.locator("#languages li[data-language=python]")).to_be_visible()
        expect(page.locator("#languages li[data-language=c]")).to_contain_text("1")
        link = page.locator("#failures a").first
        expect(link).to_have_attribute("href", f"history/{failed}")
        entry = web_server.http.get(f"/history/{failed}").json()
        assert entry["status"] == "FAILED" and entry["error"] == "the sandbox failed"
        expect(page.locator("#failures tr").first).to_contain_text("the sandbox failed")

        # another range asks again, with its own bucket size
        with page.expect_request(lambda r: "/stats?" in r.url and "bucket=1h" in r.url):
            page.select_option("#range", "24h")
        expect(page.locator("#fig-jobs")).to_have_text(f"{stats['jobs']:,}")

    paths = {urlparse(r.url).path for r in asked}
    assert all(path.startswith(PUBLIC) for path in paths), paths
    stats_asked = [parse_qs(urlparse(r.url).query) for r in asked if "/stats" in r.url]
    assert stats_asked[0]["bucket"] == ["1m"]


def test_dashboard_is_readable_on_a_phone_in_the_dark(browser: Browser, web_server: Server) -> None:
    phone: dict[str, Any] = {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "color_scheme": "dark",
    }
    with loopback_context(browser, web_server.url, **phone) as c:
        page = c.new_page()
        _open(page, web_server.url)
        # one column, nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        boxes = [page.locator(f"#{i}").bounding_box() for i in ("rate-chart", "languages")]
        assert all(b is not None and b["width"] <= 390 for b in boxes)
        # the queue and languages cards, side by side on a desktop, stack on a phone
        queue, languages = (
            page.locator(f"section[aria-labelledby={name}-title]").bounding_box()
            for name in ("queue", "languages")
        )
        assert queue is not None and languages is not None
        assert languages["y"] >= queue["y"] + queue["height"]
        # the dark palette: a dark background
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == "rgb(15, 20, 27)"


def test_dashboard_page_is_served_like_the_playground(web_server: Server) -> None:
    response = web_server.http.get("/dashboard")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="assets/dashboard-' in response.text

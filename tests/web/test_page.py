"""Serving the page: the built bundle over HTTP, and the API alone when there is none."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from onpyrunner.web import page
from tests.service import Server

ASSET_REF = re.compile(r'(?:src|href)="(assets/[^"]+)"')


@pytest.mark.sandbox
def test_page_and_its_assets_are_served(web_server: Server) -> None:
    response = web_server.http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    assets = ASSET_REF.findall(html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        got = web_server.http.get("/" + asset, headers={"accept-encoding": "gzip"})
        assert got.status_code == 200, asset
        assert got.headers["content-encoding"] == "gzip"
        if asset.endswith((".js", ".css")):  # named by their content hash
            assert "immutable" in got.headers["cache-control"]
        again = web_server.http.get("/" + asset, headers={"if-none-match": got.headers["etag"]})
        assert again.status_code == 304


@pytest.mark.sandbox
def test_unknown_asset_is_a_json_404(web_server: Server) -> None:
    response = web_server.http.get("/assets/nope.js")
    assert response.status_code == 404
    assert response.json() == {"error": "no asset 'nope.js'"}


def test_without_a_build_root_says_so_and_the_warning_says_how_to_build(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()
    with caplog.at_level(logging.WARNING, logger="onpyrunner.web.page"):
        app.include_router(page.router(dist=tmp_path / "dist"))
    assert "the playground page is not built" in caplog.text
    assert "scripts/setup" in caplog.text

    async def ask(paths: list[str]) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://page.test") as client:
            return [await client.get(path) for path in paths]

    # On an event loop in a thread of its own: this package's open Playwright holds this
    # thread's, and no second loop may run beside it.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        response, asset = pool.submit(asyncio.run, ask(["/", "/assets/app.js"])).result(60)
    assert response.status_code == 503
    assert "text/html" in response.headers["content-type"]
    assert "The playground page is not built" in response.text
    assert "the API is running" in response.text
    assert asset.status_code == 404

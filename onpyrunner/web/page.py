"""Serve the built pages, the playground at `/` and the dashboard at `/dashboard`, and their
assets at `/assets/`, or say they are missing.

The page is built by `npm run build` in web/ (scripts/setup runs it when Node is there) into
dist/ beside this module. Without it the API still runs: `/` then answers a short page that
says how to build it. Files are read once, when the app is made, and kept gzipped too.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

log = logging.getLogger(__name__)

DIST = Path(__file__).parent / "dist"

#: The page is a client of the public API on its own origin, and nothing else.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

#: Names with esbuild's content hash (app-CFIEH3ZW.js) never change; the rest revalidate.
HASHED_NAME = re.compile(r"^[\w.]+-[A-Z0-9]{8}\.(?:js|css)$")
IMMUTABLE = "public, max-age=31536000, immutable"

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

NOT_BUILT = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>OnPyRunner</title>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto;">
<h1>OnPyRunner: the API is running</h1>
<p>The playground page is not built on this server (nor the dashboard). Building them
needs Node.js and npm: run <code>scripts/setup</code> (or
<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>), then restart the service.</p>
<p>The HTTP API works without it: <a href="openapi.json">OpenAPI schema</a>,
<a href="languages">languages</a>, <a href="health">health</a>.</p>
</body></html>
"""


@dataclass(frozen=True)
class Asset:
    """One file of the page, as sent: plain and gzipped, with its validator."""

    body: bytes
    gzipped: bytes
    media_type: str
    etag: str
    cache_control: str

    @classmethod
    def of(cls, body: bytes, media_type: str, cache_control: str) -> Asset:
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        return cls(body, gzip.compress(body, 9, mtime=0), media_type, etag, cache_control)

    def response(self, request: Request, headers: dict[str, str] | None = None) -> Response:
        """The file, gzipped when the client takes it, or 304 when it has it already."""
        sent = {
            "ETag": self.etag,
            "Cache-Control": self.cache_control,
            "Vary": "Accept-Encoding",
            **(headers or {}),
        }
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=sent)
        if "gzip" in request.headers.get("accept-encoding", ""):
            sent["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=sent)
        return Response(self.body, media_type=self.media_type, headers=sent)


@dataclass(frozen=True)
class Bundle:
    """The built pages (index.html, dashboard.html) and their assets."""

    index: Asset
    assets: dict[str, Asset]
    dashboard: Asset | None = None


def load_bundle(dist: Path) -> Bundle | None:
    """The built page in dist, or None when there is none."""
    index_path = dist / "index.html"
    if not index_path.is_file():
        return None
    index = Asset.of(index_path.read_bytes(), "text/html; charset=utf-8", "no-cache")
    dashboard_path = dist / "dashboard.html"
    dashboard = (
        Asset.of(dashboard_path.read_bytes(), "text/html; charset=utf-8", "no-cache")
        if dashboard_path.is_file()
        else None
    )
    assets = {}
    asset_dir = dist / "assets"
    for path in sorted(asset_dir.iterdir()) if asset_dir.is_dir() else []:
        if path.is_file():
            cache = IMMUTABLE if HASHED_NAME.match(path.name) else "no-cache"
            media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
            assets[path.name] = Asset.of(path.read_bytes(), media_type, cache)
    return Bundle(index, assets, dashboard)


def router(dist: Path = DIST) -> APIRouter:
    """Routes of the page. Logs a warning, once, when the page is not built."""
    bundle = load_bundle(dist)
    if bundle is None:
        log.warning(
            "the playground page is not built (no %s): serving the API only; "
            "run scripts/setup with Node.js and npm installed to build it",
            dist / "index.html",
        )
    pages = APIRouter(include_in_schema=False)

    @pages.api_route("/", methods=["GET", "HEAD"])
    async def index(request: Request) -> Response:
        if bundle is None:
            return HTMLResponse(NOT_BUILT, status_code=503)
        return bundle.index.response(request, SECURITY_HEADERS)

    @pages.api_route("/dashboard", methods=["GET", "HEAD"])
    async def dashboard(request: Request) -> Response:
        if bundle is None or bundle.dashboard is None:
            return HTMLResponse(NOT_BUILT, status_code=503)
        return bundle.dashboard.response(request, SECURITY_HEADERS)

    @pages.api_route("/assets/{name}", methods=["GET", "HEAD"])
    async def asset(name: str, request: Request) -> Response:
        found = bundle.assets.get(name) if bundle is not None else None
        if found is None:
            raise HTTPException(404, f"no asset {name!r}")
        return found.response(request, {"X-Content-Type-Options": "nosniff"})

    return pages

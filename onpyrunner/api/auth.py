"""API tokens: when the setting auth_tokens is set, every request must carry one.

A token is accepted as `Authorization: Bearer <token>`, as an `X-Auth-Token` header (Judge0's
name), or as an `X-Auth-Token` query parameter (Judge0 allows it, and a browser cannot set
headers on a WebSocket). Tokens are compared in constant time. `GET /health` stays open so
load balancers can probe it. Without tokens configured the service is open, as before.

Each token has an id that is not secret: what the job history records as the token a job
came with (`token_id`), so an operator can tell clients apart without the history holding a
secret. It is derived from the token with PBKDF2 (slow on purpose: a weak token cannot be
found from its id by trying candidates quickly), the same on every replica.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

#: Header and query parameter name (Judge0's default AUTHN_HEADER).
TOKEN_NAME = "X-Auth-Token"

#: Paths answered without a token.
OPEN_PATHS = frozenset({"/health"})

_UNAUTHORIZED = {"error": "missing or invalid API token (Authorization: Bearer, or X-Auth-Token)"}

#: Where the middleware leaves the id of the token a request came with (an ASGI scope key).
TOKEN_ID_SCOPE_KEY = "onpyrunner.token_id"
_TOKEN_ID_SALT = b"onpyrunner token id"
_TOKEN_ID_ROUNDS = 50_000


def token_id(token: str) -> str:
    """The token's public id: "t-" and 12 hex digits of PBKDF2-SHA256 of it."""
    digest = hashlib.pbkdf2_hmac("sha256", token.encode(), _TOKEN_ID_SALT, _TOKEN_ID_ROUNDS)
    return "t-" + digest[:6].hex()


def request_token_id(conn: HTTPConnection) -> str | None:
    """The id of the token this request or WebSocket came with; None on an open service."""
    found = conn.scope.get(TOKEN_ID_SCOPE_KEY)
    return found if isinstance(found, str) else None


def presented_tokens(scope: Scope) -> list[str]:
    """Every token the request offers, from its headers and its query string."""
    found: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                found.append(rest.strip())
        elif name == TOKEN_NAME.lower().encode():
            found.append(value.decode("latin-1").strip())
    query = scope.get("query_string", b"").decode("latin-1")
    found += [v for k, v in parse_qsl(query, keep_blank_values=True) if k == TOKEN_NAME]
    return found


def token_matches(offered: Iterable[str], tokens: list[bytes]) -> int | None:
    """The index in tokens of the (first) offered token that is one of them, or None;
    compared in constant time."""
    found: int | None = None
    for candidate in offered:
        raw = candidate.encode()
        for i, token in enumerate(tokens):
            # no early exit: the same time for every token
            if hmac.compare_digest(raw, token) and found is None:
                found = i
    return found


#: The OpenAPI security schemes: the three ways a token may be given (any one will do).
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "tokenHeader": {"type": "apiKey", "in": "header", "name": TOKEN_NAME},
    "tokenQuery": {"type": "apiKey", "in": "query", "name": TOKEN_NAME},
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema with tokens required: the security schemes, and on every operation
    but the open ones, which token will do and the 401 answered without one."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    unauthorized = {
        "description": "no valid API token",
        "headers": {
            "WWW-Authenticate": {"required": True, "schema": {"type": "string"}},
        },
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                }
            }
        },
    }
    for path, operations in schema.get("paths", {}).items():
        if path in OPEN_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            operation.setdefault("responses", {})["401"] = unauthorized
    return schema


class TokenAuth:
    """ASGI middleware: 401 for HTTP requests and WebSocket handshakes without a valid token."""

    def __init__(self, app: ASGIApp, tokens: list[str], ids: list[str] | None = None) -> None:
        """ids: each token's id (token_id), computed once by the caller if given."""
        self.app = app
        self.tokens = [t.encode() for t in tokens]
        self.ids = ids if ids is not None else [token_id(t) for t in tokens]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.tokens or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        matched = token_matches(presented_tokens(scope), self.tokens)
        if matched is not None or scope["path"] in OPEN_PATHS:
            if matched is not None:
                scope = {**scope, TOKEN_ID_SCOPE_KEY: self.ids[matched]}
            await self.app(scope, receive, send)
            return
        body = json.dumps(_UNAUTHORIZED).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="onpyrunner"'),
        ]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await receive()  # websocket.connect: the handshake waits for our answer
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the extension answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008})

"""The MCP server, driven by the official MCP SDK's own client against a real server: over
streamable HTTP at /mcp (behind the service's tokens), and over stdio through
`onpyrunner mcp --url` talking to the running service."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from onpyrunner.api.mcp.server import judge_answer, run_answer
from tests.api.conftest import custom_server
from tests.service import ROOT, Server

pytestmark = pytest.mark.sandbox

TOKEN = "mcp-test-token"
DOUBLE = "print(int(input()) * 2)"


@pytest.fixture(scope="module")
def secured() -> Iterator[Server]:
    """A server that needs a token."""
    with custom_server("memory", auth_tokens=TOKEN) as s:
        yield s


@asynccontextmanager
async def over_http(server: Server) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, with the token (its HTTP client is ours to
    close)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        transport = streamable_http_client(f"{server.url}/mcp", http_client=http)
        async with Client(transport) as client:
            yield client


@asynccontextmanager
async def over_stdio(server: Server) -> AsyncIterator[Client]:
    """The SDK's client over stdio, to `onpyrunner mcp --url` as a child process."""
    command = [
        "-m",
        "onpyrunner",
        "mcp",
        "--url",
        server.url,
        "--token",
        TOKEN,
    ]
    parameters = StdioServerParameters(command=sys.executable, args=command, cwd=str(ROOT))
    async with Client(parameters) as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


@pytest.mark.parametrize("connect", [over_http, over_stdio], ids=["http", "stdio"])
async def test_the_tools_run_and_judge_code(secured: Server, connect: Any) -> None:
    async with connect(secured) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools == {"run_code", "judge", "list_languages"}

        languages = (await call(client, "list_languages"))["result"]
        assert "python" in {lang["id"] for lang in languages}

        ran = await call(client, "run_code", code=DOUBLE, stdin="21\n")
        assert ran["outcome"] == "SUCCESS" and ran["stdout"] == "42\n"
        assert ran["usage"]["wall_time_ms"] >= 0 and ran["exit_code"] == 0

        slow = await call(client, "run_code", code="while True: pass", cpu_time_ms=500)
        assert slow["outcome"] == "TIME_LIMIT_EXCEEDED"

        broken = await call(client, "run_code", code="int main() { return x; }", language="cpp")
        assert broken["outcome"] == "COMPILE_ERROR" and "error" in broken["compile_output"]

        tests = [
            {"stdin": "1\n", "expected_stdout": "2\n"},
            {"stdin": "5\n", "expected_stdout": "11\n", "name": "off by one"},
        ]
        judged = await call(client, "judge", code=DOUBLE, tests=tests)
        assert judged["verdict"] == "WRONG_ANSWER"
        assert (judged["passed"], judged["total"]) == (1, 2)
        assert [t["verdict"] for t in judged["tests"]] == ["ACCEPTED", "WRONG_ANSWER"]
        assert judged["tests"][1]["stdout"] == "10\n"

        refused = await client.call_tool("run_code", {"code": "x", "language": "cobol"})
        assert refused.is_error
        assert "unknown language 'cobol'" in str(refused.content[0])


def test_mcp_over_http_needs_a_token(secured: Server) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = httpx.post(f"{secured.url}/mcp", json=body, timeout=10)
    assert response.status_code == 401


def test_over_stdio_a_job_that_outlives_the_servers_wait_is_followed_to_its_end() -> None:
    with custom_server("memory", auth_tokens=TOKEN, max_wait_s="0.2") as impatient:

        async def run() -> Any:
            async with over_stdio(impatient) as client:
                code = "import time\ntime.sleep(1.5)\nprint('late')"
                return await call(client, "run_code", code=code, wall_time_ms=10_000)

        ran = asyncio.run(run())
        assert ran["outcome"] == "SUCCESS" and ran["stdout"] == "late\n"


def test_a_job_the_service_failed_is_answered_as_failed() -> None:
    job = {"job_id": "j", "status": "FAILED", "error": "the sandbox failed", "result": None}
    assert (
        run_answer(job)
        == judge_answer(job)
        == {
            "status": "FAILED",
            "error": "the sandbox failed",
            "job_id": "j",
        }
    )

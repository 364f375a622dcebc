"""The MCP server: tools `run_code`, `judge` and `list_languages` over a Backend (the
native path in this process, or a running service over HTTP). Each tool builds a native
request (POST /execute's body) and answers with the parts of the finished job an agent
reads; a refusal or a busy service is the tool's error, in the native API's words."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from onpyrunner import __version__
from onpyrunner.api.mcp.backends import Backend, ToolCallError

INSTRUCTIONS = (
    "OnPyRunner runs untrusted code in a fresh nsjail sandbox and judges it against tests. "
    "run_code runs a program once (stdin in; stdout, stderr, outcome and usage out); judge "
    "runs it on each test and compares its output; list_languages says what can run."
)


Code = Annotated[str, Field(description="the program's source")]
Lang = Annotated[str, Field(description="a language id from list_languages")]
CpuTime = Annotated[int | None, Field(description="CPU time limit, ms; none: the server's")]
WallTime = Annotated[int | None, Field(description="wall time limit, ms; none: the server's")]
Memory = Annotated[int | None, Field(description="memory limit, MiB; none: the server's")]


class Test(BaseModel):
    """One test of `judge`: the program's stdin and the stdout it must print."""

    stdin: str = ""
    expected_stdout: str
    name: str | None = None
    hidden: bool = False


def _limits(
    cpu_time_ms: int | None, wall_time_ms: int | None, memory_mb: int | None
) -> dict[str, int]:
    given = {"cpu_time_ms": cpu_time_ms, "wall_time_ms": wall_time_ms, "memory_mb": memory_mb}
    return {name: value for name, value in given.items() if value is not None}


def _failed(job: dict[str, Any]) -> dict[str, Any] | None:
    """A job the service could not finish, as the tool's answer (None when it finished)."""
    if job["status"] == "COMPLETED":
        return None
    return {"status": job["status"], "error": job.get("error"), "job_id": job["job_id"]}


def run_answer(job: dict[str, Any]) -> dict[str, Any]:
    """What run_code answers of a finished plain run."""
    failed = _failed(job)
    if failed is not None:
        return failed
    result = job["result"]
    answer = {
        "status": job["status"],
        "outcome": result["outcome"],
        "stdout": result["stdout"],
        "stderr": result["stderr"],
        "exit_code": result["exit_code"],
        "signal": result["signal"],
        "usage": result["usage"],
        "limits": job["limits"],
        "job_id": job["job_id"],
    }
    if result.get("compile_output"):
        answer["compile_output"] = result["compile_output"]
    return answer


def judge_answer(job: dict[str, Any]) -> dict[str, Any]:
    """What judge answers of a finished judge job: the verdicts, per test and overall."""
    failed = _failed(job)
    if failed is not None:
        return failed
    result = job["result"]
    keep = ("name", "verdict", "outcome", "stdout", "stderr", "exit_code", "usage", "diff")
    tests = [{k: t[k] for k in keep if t.get(k) is not None} for t in result["tests"]]
    answer = {
        "status": job["status"],
        "verdict": result["verdict"],
        "passed": result["passed"],
        "total": result["total"],
        "score": result["score"],
        "tests": tests,
        "job_id": job["job_id"],
    }
    if result.get("compile_output"):
        answer["compile_output"] = result["compile_output"]
    return answer


def build(backend: Backend) -> MCPServer:
    """The MCP server, its tools running jobs through backend."""
    server: MCPServer = MCPServer(
        "onpyrunner", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )

    async def execute(body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await backend.execute(body)
        except ToolCallError as e:
            raise ToolError(str(e)) from e

    @server.tool()
    async def run_code(
        code: Code,
        language: Lang = "python",
        stdin: Annotated[str, Field(description="the program's standard input")] = "",
        args: Annotated[list[str] | None, Field(description="arguments after the command")] = None,
        cpu_time_ms: CpuTime = None,
        wall_time_ms: WallTime = None,
        memory_mb: Memory = None,
    ) -> dict[str, Any]:
        """Run a program once in a fresh sandbox: its outcome (SUCCESS, RUNTIME_ERROR,
        TIME_LIMIT_EXCEEDED, MEMORY_LIMIT_EXCEEDED, OUTPUT_LIMIT_EXCEEDED, COMPILE_ERROR),
        stdout, stderr, exit code and usage (CPU ms, wall ms, peak memory KiB)."""
        body: dict[str, Any] = {
            "language": language,
            "source_code": code,
            "stdin": stdin,
            "limits": _limits(cpu_time_ms, wall_time_ms, memory_mb),
        }
        if args:
            body["args"] = args
        return run_answer(await execute(body))

    @server.tool()
    async def judge(
        code: Code,
        tests: Annotated[list[Test], Field(description="each test's stdin and expected stdout")],
        language: Lang = "python",
        checker: Annotated[
            Literal["lines", "exact", "tokens"],
            Field(description="lines: trailing whitespace ignored; exact; tokens: by words"),
        ] = "lines",
        stop_on_first_failure: Annotated[
            bool, Field(description="skip the tests after the first failure")
        ] = False,
        cpu_time_ms: CpuTime = None,
        wall_time_ms: WallTime = None,
        memory_mb: Memory = None,
    ) -> dict[str, Any]:
        """Run a program on each test, each in a fresh sandbox, and judge its output: the
        verdict (ACCEPTED, WRONG_ANSWER, TIME_LIMIT_EXCEEDED, RUNTIME_ERROR, ...), tests
        passed of all, the score (0-100), and each test's verdict and output."""
        body = {
            "language": language,
            "source_code": code,
            "test_cases": [t.model_dump(exclude_none=True) for t in tests],
            "checker": checker,
            "stop_on_first_failure": stop_on_first_failure,
            "limits": _limits(cpu_time_ms, wall_time_ms, memory_mb),
        }
        return judge_answer(await execute(body))

    @server.tool()
    async def list_languages() -> list[dict[str, Any]]:
        """The languages this service runs now: id (what run_code and judge take), name,
        version."""
        try:
            return await backend.languages()
        except ToolCallError as e:
            raise ToolError(str(e)) from e

    return server

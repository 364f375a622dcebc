"""Running a source text in a sandbox under the default limits, some changed: the helper of
the sandbox tests that look at one run's result."""

from __future__ import annotations

import textwrap

from onpyrunner.limits import Limits
from onpyrunner.models import RunResult
from onpyrunner.sandbox.pool import RunOptions, Sandbox


async def run_source(
    sandbox: Sandbox,
    code: str,
    language: str = "python",
    stdin: bytes = b"",
    options: RunOptions | None = None,
    **limits: int,
) -> RunResult:
    """Run code (dedented) as `language`, with the sandbox's default limits and `limits`."""
    base = sandbox.settings.limit_table().defaults.model_dump()
    base.update(limits)
    source = textwrap.dedent(code).encode()
    return await sandbox.run(language, source, stdin, Limits(**base), options)

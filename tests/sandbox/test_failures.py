"""When the sandbox itself cannot work, callers get a SandboxError that says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from onpyrunner.errors import SandboxError, UnknownLanguageError
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings

pytestmark = pytest.mark.sandbox


async def test_missing_nsjail_is_a_clear_error(settings: Settings) -> None:
    broken = settings.model_copy(update={"nsjail_path": Path("/nonexistent/nsjail")})
    with pytest.raises(SandboxError, match="nsjail not found at /nonexistent/nsjail"):
        await Sandbox.start(broken, slots=1)


async def test_nsjail_that_cannot_build_the_sandbox_is_an_error_not_a_verdict(
    settings: Settings, tmp_path: Path
) -> None:
    # /bin/false exits at once: the sandbox never becomes ready.
    broken = settings.model_copy(update={"nsjail_path": Path("/bin/false")})
    pool = await Sandbox.start(broken, slots=1)
    try:
        expected = "nsjail could not run the sandbox: it exited with status 1"
        with pytest.raises(SandboxError, match=expected):
            await pool.run("python", b"print(1)")
    finally:
        await pool.close()


async def test_unknown_language_lists_what_is_available(sandbox: Sandbox) -> None:
    with pytest.raises(UnknownLanguageError) as caught:
        await sandbox.run("cobol", b"DISPLAY 'HI'")
    assert "python" in caught.value.available

"""When the sandbox itself cannot work, callers get a SandboxError that says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from onpyrunner.errors import ConfigError, SandboxError, UnknownLanguageError
from onpyrunner.sandbox.pool import SANDBOX_TRIES, Sandbox
from onpyrunner.settings import Settings

pytestmark = pytest.mark.sandbox


async def test_missing_nsjail_is_a_clear_error(settings: Settings) -> None:
    broken = settings.model_copy(update={"nsjail_path": Path("/nonexistent/nsjail")})
    with pytest.raises(SandboxError, match="nsjail not found at /nonexistent/nsjail"):
        await Sandbox.start(broken, slots=1)


async def test_nsjail_that_cannot_build_the_sandbox_is_an_error_not_a_verdict(
    settings: Settings, tmp_path: Path
) -> None:
    # An "nsjail" that reads its policy but exits at once: no sandbox ever becomes ready.
    fake = tmp_path / "nsjail"
    fake.write_text('#!/bin/sh\ncase "$*" in *--help*) exit 0;; esac\nexit 1\n')
    fake.chmod(0o755)
    broken = settings.model_copy(update={"nsjail_path": fake})
    pool = await Sandbox.start(broken, slots=1)
    try:
        expected = "nsjail could not run the sandbox: it exited with status 1"
        with pytest.raises(SandboxError, match=expected) as caught:
            await pool.run("python", b"print(1)")
        assert f"tried {SANDBOX_TRIES} fresh sandboxes" in str(caught.value)
        assert pool.rebuilds == {"nsjail_exited": SANDBOX_TRIES}
    finally:
        await pool.close()


async def test_nsjail_that_refuses_the_policy_fails_at_start_up(
    settings: Settings, tmp_path: Path
) -> None:
    broken = settings.model_copy(update={"nsjail_path": Path("/bin/false")})
    with pytest.raises(ConfigError, match="nsjail cannot read the policy"):
        await Sandbox.start(broken, slots=1)


async def test_unknown_language_lists_what_is_available(sandbox: Sandbox) -> None:
    with pytest.raises(UnknownLanguageError) as caught:
        await sandbox.run("cobol", b"DISPLAY 'HI'")
    assert "python" in caught.value.available

"""Every runtime present on this machine passes its self-test in the real sandbox."""

from __future__ import annotations

import shutil

import pytest

from onpyrunner.models import Outcome
from onpyrunner.sandbox.pool import Sandbox

pytestmark = pytest.mark.sandbox


def test_python_is_always_available(sandbox: Sandbox) -> None:
    assert sandbox.runtime("python").version.startswith("CPython 3.")


def test_pypy_is_offered_exactly_when_installed(sandbox: Sandbox) -> None:
    assert ("pypy" in sandbox.runtimes) == (shutil.which("pypy3") is not None)


async def test_every_present_runtime_passes_its_self_test(sandbox: Sandbox) -> None:
    assert sandbox.runtimes
    for runtime in sandbox.runtimes.values():
        test = runtime.spec.self_test
        result = await sandbox.run(runtime.id, test.source.encode(), test.stdin.encode())
        assert result.outcome is Outcome.SUCCESS, (runtime.id, result.stderr)
        assert result.stdout == test.stdout, runtime.id


async def test_runtime_cannot_see_the_service_virtualenv(sandbox: Sandbox) -> None:
    code = (
        b"import sys\ntry:\n    import pydantic\n    print('leak', sys.path)\n"
        b"except ImportError:\n    print('isolated', sys.executable)\n"
    )
    result = await sandbox.run("python", code)
    assert result.stdout == "isolated /usr/bin/python3\n"

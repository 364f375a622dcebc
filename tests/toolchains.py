"""Tests of a language whose toolchain is absent: not available here, never an error."""

from __future__ import annotations

import os

import pytest

from onpyrunner.languages.catalogue import shipped_specs
from onpyrunner.sandbox.pool import Sandbox


def need(sandbox: Sandbox, rid: str) -> None:
    """Go on only if the sandbox offers language `rid` (see need_offered)."""
    need_offered(rid in sandbox.runtimes, rid)


def need_offered(offered: bool, rid: str) -> None:
    """Go on only if language `rid` is offered.

    A language test never passes silently: without the toolchain it fails in CI
    (scripts/setup installs every one) and is reported skipped elsewhere, with the reason
    the catalogue gives (the binary it looks for), never as an UnknownLanguageError.
    """
    if offered:
        return
    spec = next((s for s in shipped_specs() if s.id == rid), None)
    why = f"{spec.binary} is not installed" if spec is not None else "it is not in the catalogue"
    unavailable(f"{rid} is not available here: {why} (scripts/setup installs it)")


def unavailable(message: str) -> None:
    """What a test needs is not on this machine: a failure in CI (whose machine has it all),
    reported skipped elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)

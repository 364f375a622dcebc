"""Shared fixtures: settings and one real sandbox pool for the whole session."""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings
from onpyrunner.worker import loop
from tests.service import uid_base


@pytest.fixture(scope="session", autouse=True)
def quick_claims() -> Iterator[None]:
    """A worker's idle claim blocks a second, and its drain waits for that claim to end:
    the tests' in-process workers block 50 ms, so that stopping one takes no second of a
    test (servers the tests start keep the setting of the code)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "CLAIM_BLOCK_S", 0.05)
        yield


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(sandbox_uid_base=uid_base())


@pytest.fixture(scope="session")
async def sandbox(settings: Settings) -> AsyncIterator[Sandbox]:
    pool = await Sandbox.start(settings)
    try:
        yield pool
    finally:
        await pool.close()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A module marked as a whole (`pytestmark = pytest.mark.sandbox`, or a list of marks)
    is not collected when the run's -m expression deselects every test it can hold: the
    quick loop (`-m "not sandbox and not fuzz"`) then never imports the sandbox, browser
    and fuzzing modules, nor builds their hundreds of cases (the fuzz module's schema
    cases alone were about half of its time)."""
    markexpr = config.option.markexpr
    if (
        not markexpr
        or collection_path.suffix != ".py"
        or not collection_path.name.startswith("test_")
    ):
        return None
    marks = _module_marks(collection_path)
    return True if marks and not _can_select(markexpr, marks) else None


def _module_marks(path: Path) -> frozenset[str]:
    """The marks a module's top-level `pytestmark` gives every test of it (read, not
    imported: only the plain `pytest.mark.NAME` forms count)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "pytestmark"
        ):
            values = node.value.elts if isinstance(node.value, ast.List) else [node.value]
            return frozenset(
                v.attr
                for v in values
                if isinstance(v, ast.Attribute)
                and isinstance(v.value, ast.Attribute)
                and v.value.attr == "mark"
            )
    return frozenset()


def _can_select(markexpr: str, marks: frozenset[str]) -> bool:
    """Whether the expression selects some test that carries marks, whatever other marks
    (of those the expression names) the test has besides."""
    expression = Expression.compile(markexpr)
    others = sorted(set(re.findall(r"[A-Za-z_]\w*", markexpr)) - {"and", "or", "not"} - marks)
    if len(others) > 10:  # -m expressions name a handful of marks; past that, collect
        return True
    choices = itertools.product((False, True), repeat=len(others))
    return any(
        expression.evaluate(_having(marks | {n for n, on in zip(others, c, strict=True) if on}))
        for c in choices
    )


def _having(present: frozenset[str]) -> Callable[..., bool]:
    def marked(name: str, /, **_: str | int | bool | None) -> bool:
        return name in present

    return marked

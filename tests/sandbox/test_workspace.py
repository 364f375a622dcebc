"""A slot's directory, and the reading back of what a run left: only plain files, never by
following a link, never past a size cap (no root needed: a directory stands in for the
sandbox's working directory)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from onpyrunner.sandbox.workspace import Workspace, checked_path, read_back, top_level_files


@pytest.fixture
def left(tmp_path: Path) -> Iterator[int]:
    """A working directory as a hostile run may leave it, open as the init sends it."""
    work = tmp_path / "sandbox"
    work.mkdir()
    (work / "main").symlink_to("/etc/passwd")  # a link smuggling a host file
    (work / "Main.class").write_bytes(b"\xca\xfe\xba\xbe")
    (work / "out").mkdir()
    (work / "out" / "result.txt").write_text("42\n")
    (work / "escape").symlink_to("/etc")  # a directory link on the way
    os.mkfifo(work / "pipe")  # reading a FIFO would block
    (work / "big").write_bytes(b"x" * 2048)
    fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_a_compiles_artifacts_are_its_plain_files_only(left: int) -> None:
    names = top_level_files(left, lambda name: name in ("main", "Main.class", "out"))
    assert names == [PurePosixPath("Main.class")]
    assert read_back(left, names, 1024) == ({"Main.class": b"\xca\xfe\xba\xbe"}, [])


def test_files_asked_back_never_follow_a_link_nor_block_nor_pass_the_cap(left: int) -> None:
    asked = ["out/result.txt", "main", "escape/passwd", "pipe", "big", "missing"]
    found, refused = read_back(left, [PurePosixPath(p) for p in asked], 1024)
    assert found == {"out/result.txt": b"42\n"}
    assert refused == ["main", "escape/passwd", "pipe", "big", "missing"]


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../x", "a/../b", "./a", "a//b", "a/./b", ".onpyrunner", "a\0b"]
)
def test_a_run_file_path_must_be_plain_and_relative(name: str) -> None:
    with pytest.raises(ValueError):
        checked_path(name)


def test_files_are_staged_with_their_subdirectories(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "slot")
    ws.create()
    ws.write_files({"main.py": b"print(1)", "data/in/a.txt": b"a", "tool": b"\x7fELF.."})
    assert (ws.box / "data" / "in" / "a.txt").read_bytes() == b"a"
    assert (ws.box / "tool").stat().st_mode & 0o111
    ws.write_files({"other.py": b""})  # the next run starts from nothing
    assert sorted(os.listdir(ws.box)) == ["other.py"]


def test_stdin_file_has_no_name_left(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "slot")
    ws.create()
    fd = ws.stdin_fd(b"input")
    try:
        assert os.read(fd, 100) == b"input"
        assert sorted(os.listdir(ws.path)) == ["box"]
    finally:
        os.close(fd)

"""A slot's directory: what a compile leaves is copied out only as plain files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onpyrunner.sandbox.workspace import Workspace


def test_collect_takes_regular_files_only(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "slot")
    ws.create()
    (ws.box / "main").symlink_to("/etc/passwd")  # a compile trying to smuggle a host file
    (ws.box / "Main.class").write_bytes(b"\xca\xfe\xba\xbe")
    (ws.box / "sub").mkdir()
    found = ws.collect(lambda name: name in ("main", "Main.class", "sub"))
    assert found == {"Main.class": b"\xca\xfe\xba\xbe"}


def test_stdin_file_has_no_name_left(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "slot")
    ws.create()
    fd = ws.stdin_fd(b"input")
    try:
        assert os.read(fd, 100) == b"input"
        assert sorted(os.listdir(ws.path)) == ["box"]
    finally:
        os.close(fd)


@pytest.mark.sandbox  # giving the box to another uid needs root
def test_box_belongs_to_the_writer_only_while_compiling(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "slot")
    ws.create()
    ws.write_files({"main.c": b"int main(void){}"}, writer_uid=1_234_567)
    assert ws.box.stat().st_uid == 1_234_567
    ws.write_files({"main": b"\x7fELF..."})
    assert ws.box.stat().st_uid == 0
    assert sorted(os.listdir(ws.box)) == ["main"]
    assert (ws.box / "main").stat().st_mode & 0o111

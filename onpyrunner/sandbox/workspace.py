"""The per-run directory: the program's files (seen read-only as /sandbox) and its stdin."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """One run's host directory.

    Layout: <root>/<id>/box/ is bind-mounted read-only at /sandbox; <root>/<id>/stdin is
    the program's standard input, opened by the service and handed to nsjail as fd 0, so
    the program reads it without seeing its path.
    """

    path: Path

    @property
    def box(self) -> Path:
        return self.path / "box"

    @property
    def stdin_path(self) -> Path:
        return self.path / "stdin"

    @classmethod
    def create(cls, root: Path) -> Workspace:
        """Make a fresh, empty run directory under root (made if missing)."""
        root.mkdir(mode=0o711, parents=True, exist_ok=True)
        path = root / uuid.uuid4().hex
        path.mkdir(mode=0o711)
        (path / "box").mkdir(mode=0o755)
        fd = os.open(path / "stdin", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        return cls(path)

    def write_files(self, files: dict[str, bytes]) -> None:
        """Write the program's files into box/ (flat names only)."""
        for name, data in files.items():
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"invalid file name {name!r}")
            (self.box / name).write_bytes(data)
            (self.box / name).chmod(0o644)

    def write_stdin(self, data: bytes) -> None:
        """Fill the stdin file (already open as the sandbox's fd 0, at offset 0)."""
        with open(self.stdin_path, "r+b") as f:
            f.write(data)

    def remove(self) -> None:
        """Delete the directory and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)

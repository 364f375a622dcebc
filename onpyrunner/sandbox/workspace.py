"""A slot's directory: the program's files (seen read-only as /sandbox) and stdin files."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from onpyrunner.errors import SandboxError


class Workspace:
    """The host directory of one slot.

    Layout: <dir>/box/ is bind-mounted read-only at /sandbox in every sandbox of the slot
    and holds only the current run's files. Each run's stdin is a file that is opened and
    unlinked at once: the program reads it as fd 0 and never sees its path.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.box = path / "box"

    def create(self) -> None:
        """Make the directory (the sandbox user may only traverse it)."""
        self.box.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.path.chmod(0o711)

    def clean(self) -> None:
        """Remove the previous run's files."""
        for entry in os.scandir(self.box):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)

    def write_files(
        self,
        files: dict[str, bytes],
        links: dict[str, Path] | None = None,
        writer_uid: int | None = None,
    ) -> None:
        """Replace box/'s contents with the program's files (flat names only): files
        written from bytes, links hard-linked from where they are (the compile cache),
        or copied when that is another filesystem.

        With writer_uid, box/ belongs to that host uid (the slot's sandbox user) so that a
        compile can write its output there; otherwise it is root's and read-only inside.

        Raises:
            ValueError: a name is not a plain file name.
            SandboxError: a linked file is gone (evicted from the cache meanwhile).
        """
        self.clean()
        uid = 0 if writer_uid is None else writer_uid
        os.chown(self.box, uid, uid)
        for name in [*files, *(links or {})]:
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"invalid file name {name!r}")
        for name, data in files.items():
            path = self.box / name
            path.write_bytes(data)
            path.chmod(0o755 if data[:4] == b"\x7fELF" else 0o644)
        for name, source in (links or {}).items():
            try:
                os.link(source, self.box / name)
            except FileNotFoundError as e:
                raise SandboxError(f"the compiled program left the cache: {source}") from e
            except OSError as e:
                if e.errno != errno.EXDEV:
                    raise
                shutil.copy2(source, self.box / name)

    def collect(self, wanted: Callable[[str], bool]) -> dict[str, bytes]:
        """The regular files of box/ whose names are wanted (never a link: a compile's
        output is the user's, and must not point the service at anything else)."""
        found = {}
        for entry in os.scandir(self.box):
            if entry.is_file(follow_symlinks=False) and wanted(entry.name):
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as f:
                    found[entry.name] = f.read()
        return found

    def stdin_fd(self, data: bytes) -> int:
        """A read-only-positioned fd of a file holding data; the file's name is gone at once."""
        path = self.path / f"stdin-{os.urandom(6).hex()}"
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            os.unlink(path)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.lseek(fd, 0, os.SEEK_SET)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def remove(self) -> None:
        """Delete the directory and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)

"""A slot's directory, where the host stages each run's files and stdin, and the safe reading
of files a run left in its sandbox.

Layout: <dir>/box/ is bind-mounted read-only at /.onpyrunner/in in every sandbox of the slot
and holds only the current run's files; the init copies them into the sandbox's own
/sandbox (see init.c). Each run's stdin is a file that is opened and unlinked at once: the
program reads it as fd 0 and never sees its path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath

from onpyrunner.errors import SandboxError

#: Reserved at the top of a run's working directory (the init's own paths live elsewhere,
#: but names starting so are refused, to keep room).
RESERVED_PREFIX = ".onpyrunner"


def checked_path(name: str) -> PurePosixPath:
    """A file path of a run: relative, normalised, never `..`, never empty.

    Raises:
        ValueError: anything else; the message says why.
    """
    if not name or name.startswith("/") or "\0" in name:
        raise ValueError(f"{name!r} is not a relative path")
    path = PurePosixPath(name)
    parts = path.parts
    if any(part in ("..", ".") for part in parts) or str(path) != name.rstrip("/"):
        raise ValueError(f"{name!r} is not a normalised relative path (no '.', '..' or '//')")
    if parts[0].startswith(RESERVED_PREFIX):
        raise ValueError(f"{name!r}: names starting with {RESERVED_PREFIX!r} are reserved")
    return path


class Workspace:
    """The host directory of one slot."""

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
        self, files: Mapping[str, bytes], links: Mapping[str, Path] | None = None
    ) -> None:
        """Replace box/'s contents with the run's files: files written from bytes (relative
        paths, subdirectories made as needed), links hard-linked from where they are (the
        compile cache; flat names), or copied when that is another filesystem.

        Raises:
            ValueError: a path is not a plain relative path.
            SandboxError: a linked file is gone (evicted from the cache meanwhile).
        """
        self.clean()
        checked = {name: checked_path(name) for name in files}
        for name in links or {}:
            if "/" in name or checked_path(name).name != name:
                raise ValueError(f"invalid file name {name!r}")
        for name, data in files.items():
            path = self.box / checked[name]
            if len(checked[name].parts) > 1:
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            _write_new(path, data, 0o755 if data[:4] == b"\x7fELF" else 0o644)
        for name, source in (links or {}).items():
            try:
                os.link(source, self.box / name)
            except FileNotFoundError as e:
                raise SandboxError(f"the compiled program left the cache: {source}") from e
            except OSError as e:
                if e.errno != errno.EXDEV:
                    raise
                shutil.copy2(source, self.box / name)

    def stdin_fd(self, data: bytes) -> int:
        """A read-only-positioned fd of a file holding data; the file's name is gone at once."""
        path = self.path / f"stdin-{os.urandom(6).hex()}"
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            os.unlink(path)
            _write_all(fd, data)
            os.lseek(fd, 0, os.SEEK_SET)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def remove(self) -> None:
        """Delete the directory and everything in it."""
        shutil.rmtree(self.path, ignore_errors=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """A new file at path holding data, with exactly mode (whatever the umask): os-level,
    one descriptor, on every job's path."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        _write_all(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _open_in(dir_fd: int, path: PurePosixPath) -> int | None:
    """An fd of a regular file at path below dir_fd, every component opened without
    following a link; None when it is missing, a link, or not a regular file."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    current = dir_fd
    try:
        for part in path.parts[:-1]:
            opened = os.open(part, flags | os.O_DIRECTORY, dir_fd=current)
            if current != dir_fd:
                os.close(current)
            current = opened
        fd = os.open(path.parts[-1], flags, dir_fd=current)
    except OSError:
        return None
    finally:
        if current != dir_fd:
            os.close(current)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_back(
    dir_fd: int, paths: Iterable[PurePosixPath], max_bytes: int
) -> tuple[dict[str, bytes], list[str]]:
    """Files a run left in its working directory (dir_fd: the sandbox's /sandbox, from its
    init), read safely: no link is followed at any step, only regular files are read, and
    no file past max_bytes is read whole. Returns (the files read, the paths refused: missing,
    not a regular file, or over max_bytes)."""
    found: dict[str, bytes] = {}
    refused: list[str] = []
    for path in paths:
        fd = _open_in(dir_fd, path)
        if fd is None:
            refused.append(str(path))
            continue
        with os.fdopen(fd, "rb") as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            refused.append(str(path))
        else:
            found[str(path)] = data
    return found, refused


def top_level_files(dir_fd: int, wanted: Callable[[str], bool]) -> list[PurePosixPath]:
    """The names at the top of the directory that wanted accepts (a compile's artifacts)."""
    names = []
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if wanted(entry.name) and entry.is_file(follow_symlinks=False):
                names.append(PurePosixPath(entry.name))
    return sorted(names)

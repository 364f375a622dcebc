"""The compile cache: the same source, language and compiler give the same program.

Entries are directories named by a SHA-256 of everything that decides the output (runtime
id and version, the compile command, the source file's name, the source itself), holding
the artifacts the compiler left. A different source is a different key: one job's program
can never be served for another's source. Entries are written to a temporary directory
and renamed into place, so concurrent writers (other processes too) never expose a half
entry; the least recently used entries are evicted past the size cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

from onpyrunner.sandbox.runtimes import Runtime

#: Changes when the layout of an entry changes, so that old entries are never read.
FORMAT = 2


def cache_key(
    runtime: Runtime,
    source_file: str,
    source: bytes,
    options: tuple[str, ...] = (),
    files: Mapping[str, bytes] | None = None,
) -> str:
    """The key of a compile: SHA-256 over what decides the compiler's output (with the
    files compiled beside the source, such as a header, when there are any)."""
    assert runtime.compile is not None
    head = json.dumps(
        [
            FORMAT,
            runtime.id,
            runtime.version,
            list(runtime.compile.command),
            source_file,
            list(options),
        ]
    )
    digest = hashlib.sha256(head.encode())
    digest.update(b"\0")
    digest.update(source)
    for name in sorted(files or {}):
        content = (files or {})[name]
        digest.update(f"\0{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


class CompileCache:
    """Compiled artifacts on disk, bounded in size."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def get(self, key: str) -> dict[str, Path] | None:
        """The artifacts' paths of key, or None (and a hit refreshes the entry's age).

        Runs hard-link these paths into their sandbox (same filesystem: no copy), where
        they are read-only: a program cannot change the cached copy.
        """
        entry = self.root / key
        try:
            files = {p.name: p for p in entry.iterdir() if p.is_file()}
            os.utime(entry)
        except FileNotFoundError:
            return None
        return files or None

    def put(self, key: str, files: dict[str, bytes]) -> dict[str, Path]:
        """Store artifacts under key (a racing writer's identical entry may win); their
        paths in the cache."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir(mode=0o755)
        try:
            for name, data in files.items():
                path = tmp / name
                path.write_bytes(data)
                path.chmod(0o755 if data[:4] == b"\x7fELF" else 0o644)
            try:
                tmp.rename(self.root / key)
            except OSError:  # already there: the same content, compiled by someone else
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.evict(keep=key)
        return {name: self.root / key / name for name in files}

    def evict(self, keep: str | None = None) -> None:
        """Remove the least recently used entries until the cache fits its cap (never
        `keep`, the entry just written)."""
        entries = []
        total = 0
        for entry in self.root.iterdir():
            if entry.name.startswith(".tmp-"):
                continue
            with contextlib.suppress(FileNotFoundError):
                size = sum(p.stat().st_size for p in entry.iterdir())
                entries.append((entry.stat().st_mtime, size, entry))
                total += size
        for _, size, entry in sorted(entries):
            if total <= self.max_bytes:
                break
            if entry.name == keep:
                continue
            shutil.rmtree(entry, ignore_errors=True)
            total -= size

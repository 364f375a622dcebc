"""Judge0's `additional_files`: a zip archive (base64) of files put beside the program,
unpacked here, at the edge, into the native request's files. Bounded while it is read: no
more entries than max_files, no more bytes than max_bytes in all (a zip bomb stops at the
cap, whatever its entries declare); no link, no path that escapes or is not plain (the
native path checks every path again)."""

from __future__ import annotations

import base64
import binascii
import io
import stat
import zipfile
import zlib

from onpyrunner.api.submit import path_problem

#: Bytes read from an entry at a time.
CHUNK_BYTES = 64 * 1024


class ArchiveError(ValueError):
    """additional_files cannot be used; the message says why (Judge0 shows it)."""


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """The entry's bytes, reading at most budget + 1 of them."""
    data = bytearray()
    with archive.open(info) as entry:
        while len(data) <= budget:
            chunk = entry.read(min(CHUNK_BYTES, budget + 1 - len(data)))
            if not chunk:
                break
            data += chunk
    return bytes(data)


def unzip(encoded: str, max_files: int, max_bytes: int) -> dict[str, bytes]:
    """The files of a base64 zip archive, by path (directories skipped).

    Raises:
        ArchiveError: not base64, not a zip, a link, a bad path, too many or too large.
    """
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ArchiveError("is not valid base64") from e
    files: dict[str, bytes] = {}
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = info.filename
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ArchiveError(f"holds a symbolic link ({name!r}); only files are taken")
                problem = path_problem(name)
                if problem is not None:
                    raise ArchiveError(f"holds a path that is not allowed: {name!r} {problem}")
                if name in files:
                    raise ArchiveError(f"holds {name!r} twice")
                if len(files) == max_files:
                    raise ArchiveError(f"holds more than {max_files} files (the server maximum)")
                data = _read(archive, info, max_bytes - total)
                total += len(data)
                if total > max_bytes:
                    raise ArchiveError(
                        f"unpacks to more than {max_bytes} bytes (the server maximum)"
                    )
                files[name] = data
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as e:
        raise ArchiveError(f"is not a zip archive that can be read: {e}") from e
    return files

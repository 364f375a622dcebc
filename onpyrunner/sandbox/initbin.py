"""Build the sandbox init (init.c) once per source version, with the system C compiler."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from onpyrunner.errors import SandboxError

COMPILERS = ("cc", "gcc", "clang")


def init_source() -> bytes:
    """The C source of the sandbox init shipped with the package."""
    return (resources.files("onpyrunner.sandbox") / "init.c").read_bytes()


def ensure_init(state_dir: Path) -> Path:
    """Return the path of the built init, compiling it first if this version is new.

    The binary is static so that it needs nothing inside the sandbox. Its name carries a
    hash of the source, so an upgrade never runs a stale build.

    Raises:
        SandboxError: no C compiler, or the build failed; the message says what to install.
    """
    source = init_source()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = state_dir / f"init-{digest}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    compiler = next((c for c in COMPILERS if shutil.which(c)), None)
    if compiler is None:
        raise SandboxError(
            "the sandbox init must be compiled once and no C compiler was found: "
            "install one (Debian: apt-get install gcc libc6-dev)"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    src_path = state_dir / f"init-{digest}.c"
    src_path.write_bytes(source)
    tmp = state_dir / f"init-{digest}.{os.getpid()}.tmp"
    cmd = [compiler, "-O2", "-static", "-Wall", "-Werror", "-o", str(tmp), str(src_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise SandboxError(
            f"building the sandbox init failed ({' '.join(cmd)}): {proc.stderr.strip()[-2000:]}"
            " -- a static build needs the C library's static files (Debian: libc6-dev)"
        )
    tmp.chmod(0o755)
    tmp.replace(target)
    return target

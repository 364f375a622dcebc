"""Installing OnPyRunner as systemd services (`onpyrunner install-systemd`).

The unit files in `systemd/` name the checkout `/opt/onpyrunner` (docs/deployment.md);
installing writes them with the path of the `onpyrunner` command that runs the install, so
a checkout anywhere works without editing them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

#: Where the unit files are written by default.
SYSTEMD_DIR = Path("/etc/systemd/system")
#: The unit of each role.
UNITS = {"api": "onpyrunner.service", "worker": "onpyrunner-worker.service"}
_TEMPLATES = Path(__file__).with_name("systemd")
_COMMAND_IN_TEMPLATE = "/opt/onpyrunner/.venv/bin/onpyrunner"
_DOCS_IN_TEMPLATE = "file:///opt/onpyrunner/docs/"


def command_path() -> Path:
    """The `onpyrunner` command of this installation (beside the running interpreter, as a
    virtualenv has it; not resolved: a virtualenv's python is a symlink)."""
    beside = Path(sys.executable).parent / "onpyrunner"
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("onpyrunner")
    if found is None:
        raise FileNotFoundError("the onpyrunner command is not installed beside this Python")
    return Path(found).absolute()


def unit_text(role: str, command: Path) -> str:
    """A role's unit file, naming `command` (and this checkout's docs, when it has them)."""
    text = (_TEMPLATES / UNITS[role]).read_text()
    text = text.replace(_COMMAND_IN_TEMPLATE, str(command))
    docs = Path(__file__).resolve().parents[2] / "docs"
    if (docs / "deployment.md").is_file():
        text = text.replace(_DOCS_IN_TEMPLATE, f"file://{docs}/")
    return text


def install(roles: list[str], directory: Path = SYSTEMD_DIR, start: bool = False) -> list[Path]:
    """Write the units of roles into directory; with start, reload systemd and enable and
    start them. Returns the files written.

    Raises:
        OSError: a file could not be written.
        subprocess.CalledProcessError: systemctl failed (its output was shown).
    """
    command = command_path()
    written = []
    for role in roles:
        path = directory / UNITS[role]
        path.write_text(unit_text(role, command))
        path.chmod(0o644)
        written.append(path)
    if start:
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "enable", "--now", *(UNITS[r] for r in roles)], check=True)
    return written

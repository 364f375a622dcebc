"""The host's side of the sandbox init's protocol; init.c's header is its specification.

Two channels:
- the slot's socket (fd 3 of every sandbox of a slot's nsjail) carries only READY (init ->
  host) and GO (host -> init, with the run's stdin, stdout, stderr and control socket), or
  REFUSED when an init cannot take its go or set itself up;
- the run's control socket, made for one run and closed by the host when the run is over,
  carries STARTED and the run's end, EXIT, SIGNAL or EXECFAIL (init -> host), and KILL
  (host -> init).
A message of one run can never reach another sandbox: it has nowhere to go but its run's
own control socket, which dies with the run.
"""

from __future__ import annotations

from dataclasses import dataclass

from onpyrunner.errors import SandboxError

# Slot socket.
READY = "ready"
GO = "go"
REFUSED = "refused"
# Control socket.
STARTED = "started"
KILL = "kill"
EXIT = "exit"
SIGNAL = "signal"
EXECFAIL = "execfail"

#: The descriptors a go carries, in order.
GO_FDS = ("stdin", "stdout", "stderr", "control")


def go(
    cpu_s: int, fsize_bytes: int, wall_ms: int, argv: list[str], links: list[str] | None = None
) -> bytes:
    """The go message of a run: its limits, the program and its arguments, and the names
    of the run's files to link rather than copy into the working directory."""
    if not argv or not argv[0].startswith("/"):
        raise ValueError(f"the program must be an absolute path: {argv!r}")
    words = [f"{GO} {cpu_s} {fsize_bytes} {wall_ms} {len(argv)}", *argv, *(links or [])]
    if any("\0" in word for word in words):
        raise ValueError("a word of the go message holds a NUL")
    return "\0".join(words).encode()


def parse_ready(text: str) -> int | None:
    """A READY message: the warm interpreter's memory it carries (0 for a cold sandbox), or
    None when text is not one."""
    if text == READY:
        return 0
    kind, _, value = text.partition(" ")
    if kind != READY or not value.isdigit():
        return None
    return int(value)


def signal_message(sig: int) -> bytes:
    """The SIGNAL word asking the init to send the program sig."""
    return f"{SIGNAL} {sig}".encode()


@dataclass(frozen=True)
class Status:
    """How the init says the program ended."""

    exit_code: int | None
    signal: int | None
    wall_us: int
    cpu_us: int
    #: The program died of SIGXFSZ with a file at the file-size limit (see init.c).
    fsize_hit: bool = False


def parse_status(text: str) -> Status:
    """An EXIT or SIGNAL message.

    Raises:
        SandboxError: anything else (the init never says anything else there).
    """
    parts = text.split()
    try:
        kind, value, wall_us, cpu_us, _maxrss, fsize_hit = parts
        numbers = int(value), int(wall_us), int(cpu_us), int(fsize_hit)
    except ValueError:
        raise SandboxError(f"the sandbox init said something unexpected: {text[:80]!r}") from None
    if kind == SIGNAL:
        return Status(None, numbers[0], numbers[1], numbers[2], bool(numbers[3]))
    if kind == EXIT:
        return Status(numbers[0], None, numbers[1], numbers[2])
    raise SandboxError(f"the sandbox init said something unexpected: {text[:80]!r}")


def parse_errno(text: str, word: str) -> int | None:
    """The errno of an EXECFAIL or REFUSED message, or None when text is not one."""
    kind, _, value = text.partition(" ")
    if kind != word:
        return None
    try:
        return int(value)
    except ValueError:
        return 0

"""The sandbox policy: nsjail textproto files read as data, composed per runtime.

The policy files under policies/ are the one source of the sandbox's fixed limits and
mounts. This module reads them (a small textproto reader for the subset nsjail configs
use), composes base.cfg with a runtime's file (a file may include another: a line
`# include: other.cfg`), substitutes the runtime's variables, writes the composed file
nsjail is given, and exposes the thresholds code and tests need (tmp size, rlimit
backstops). `validate` has nsjail itself parse each composed file against its own schema
at start-up, so a misspelled field fails there, naming the file, the line and the field.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from onpyrunner.errors import ConfigError

#: uid and gid of the user inside every sandbox (mapped to a per-slot host id).
SANDBOX_INSIDE_ID = 1000

Value = str | int | bool | float
Message = dict[str, list["Value | Message"]]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<punct>[{}:])
  | (?P<word>[A-Za-z0-9_.+\-]+)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise ConfigError(f"policy: cannot read line {line}: {text[pos : pos + 30]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "space":
            out.append((kind, m.group()))
    return out


def _scalar(kind: str, raw: str) -> Value:
    if kind == "string":
        return _unquote(raw)
    if raw in ("true", "false"):
        return raw == "true"
    if re.fullmatch(r"[+-]?\d+", raw):
        return int(raw)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?", raw):
        return float(raw)
    return raw  # an enum name such as ONCE or INF


def parse_textproto(text: str) -> Message:
    """Parse the textproto subset used by nsjail configs into nested dicts of lists.

    Raises:
        ConfigError: the text is not valid textproto.
    """
    tokens = _tokens(text)
    stack: list[Message] = [{}]
    i = 0
    while i < len(tokens):
        kind, raw = tokens[i]
        if raw == "}":
            if len(stack) == 1:
                raise ConfigError("policy: unbalanced '}'")
            stack.pop()
            i += 1
            continue
        if kind != "word":
            raise ConfigError(f"policy: expected a field name, got {raw!r}")
        name = raw
        i += 1
        if i < len(tokens) and tokens[i][1] == ":":
            i += 1
        if i >= len(tokens):
            raise ConfigError(f"policy: field {name!r} has no value")
        kind, raw = tokens[i]
        if raw == "{":
            child: Message = {}
            stack[-1].setdefault(name, []).append(child)
            stack.append(child)
        else:
            value = _scalar(kind, raw)
            # Adjacent string literals concatenate, as in protobuf.
            while kind == "string" and i + 1 < len(tokens) and tokens[i + 1][0] == "string":
                i += 1
                value = f"{value}{_unquote(tokens[i][1])}"
            stack[-1].setdefault(name, []).append(value)
        i += 1
    if len(stack) != 1:
        raise ConfigError("policy: unbalanced '{'")
    return stack[0]


def policy_text(name: str) -> str:
    """The text of a shipped policy file (base.cfg, python.cfg, ...)."""
    try:
        return (resources.files("onpyrunner.sandbox") / "policies" / name).read_text()
    except FileNotFoundError as e:
        raise ConfigError(f"policy file {name!r} is not shipped") from e


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace ${NAME} with its value; an unknown name is a configuration error."""

    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in variables:
            raise ConfigError(f"policy uses ${{{key}}}, which nothing defines")
        return variables[key]

    return re.sub(r"\$\{([A-Z0-9_]+)\}", repl, text)


@dataclass(frozen=True)
class Policy:
    """A composed policy: the file nsjail reads, and the facts the service needs from it."""

    path: Path
    message: Message
    #: Where the composed text came from: (first line in it, shipped file, line there).
    origins: tuple[tuple[int, str, int], ...] = ()

    def where(self, line: int) -> str:
        """The shipped file and line ("file.cfg line N") of a line of the composed file."""
        for first, file, file_line in reversed(self.origins):
            if line >= first:
                return f"{file} line {file_line + line - first}"
        return f"{self.path.name} line {line}"

    def scalar(self, name: str) -> Value:
        """The value of a top-level scalar field (its last occurrence wins, as in nsjail)."""
        values = self.message.get(name)
        if not values or isinstance(values[-1], dict):
            raise ConfigError(f"policy {self.path} does not set {name}")
        return values[-1]

    def int_field(self, name: str) -> int:
        """A top-level integer field."""
        value = self.scalar(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"policy field {name} is not an integer: {value!r}")
        return value

    def mounts(self) -> list[Message]:
        """The mount blocks, in order."""
        return [m for m in self.message.get("mount", []) if isinstance(m, dict)]

    def tmpfs_size_bytes(self, dst: str) -> int:
        """The size= option of the tmpfs mounted at dst."""
        for mount in self.mounts():
            if mount.get("dst") == [dst] and mount.get("fstype") == ["tmpfs"]:
                options = str(mount.get("options", [""])[0])
                for option in options.split(","):
                    key, _, value = option.partition("=")
                    if key == "size":
                        return int(value)
        raise ConfigError(f"policy mounts no sized tmpfs at {dst}")

    def mount_destinations(self) -> list[str]:
        """Where each mount lands inside the sandbox."""
        return [str(m["dst"][0]) for m in self.mounts() if "dst" in m]


_INCLUDE = re.compile(r"^# include: (\S+)$", re.MULTILINE)
#: nsjail's parse error: "<line>:<column>: <what>" (protobuf's TextFormat wording).
_NSJAIL_PARSE_ERROR = re.compile(r"Error parsing text-format [\w.]+: (\d+):(\d+): (.*)")
VALIDATE_TIMEOUT_S = 20.0


def _parts(name: str, seen: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(file name, text) of a policy file and of what it includes, in order: each
    `# include: other.cfg` line is replaced by the other file's parts."""
    if name in seen:
        raise ConfigError(f"policy {name} includes itself: {' -> '.join((*seen, name))}")
    text = policy_text(name)
    parts: list[tuple[str, str]] = []
    at = 0
    for found in _INCLUDE.finditer(text):
        parts.append((name, text[at : found.start()]))
        parts += _parts(found.group(1), (*seen, name))
        at = found.end()
    parts.append((name, text[at:]))
    return parts


def compose(runtime_file: str, variables: dict[str, str], out_dir: Path, name: str) -> Policy:
    """Write base.cfg + a runtime's file (with what it includes; variables substituted)
    to out_dir/<name>.cfg.

    Raises:
        ConfigError: a file is missing, invalid, or uses an undefined variable.
    """
    parts = [("base.cfg", policy_text("base.cfg") + "\n"), *_parts(runtime_file)]
    text = ""
    origins: list[tuple[int, str, int]] = []  # (first line in text, file, its line there)
    line_in: dict[str, int] = {}
    for file, part in parts:
        origins.append((text.count("\n") + 1, file, line_in.get(file, 1)))
        line_in[file] = line_in.get(file, 1) + part.count("\n")
        text += part
    text = substitute(text, variables)
    message = parse_textproto(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.cfg"
    _write_composed(path, text)
    return Policy(path=path, message=message, origins=tuple(origins))


def _write_composed(path: Path, text: str) -> None:
    """Write a composed policy file whole (several services may compose beside it)."""
    tmp = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


#: What a fork server's own sandbox may do that a program may not: build each run's
#: namespaces and mounts (sandbox/warm.py): these system calls, and clone with the
#: namespace flags the run policy refuses (its rule `clone { (clone_flags & MASK) != 0 }`).
#: Each child denies them again, with the run policy's own EPERM, before its program
#: exists; nothing else of the policy differs.
FORK_SERVER_SYSCALLS = ("mount", "unshare")
_CLONE_RULE = re.compile(
    r'^seccomp_string: "\s*clone \{ \(clone_flags & (0x[0-9a-fA-F]+)\) != 0 \},"\n', re.MULTILINE
)
_PROC_READ_ONLY = re.compile(r'(dst: "/proc"\s+fstype: "proc"\s+rw:) false')
_MOUNT_FLAGS = {"nosuid": 0x2, "nodev": 0x4, "noexec": 0x8}  # MS_* of linux/mount.h


def fork_server_policy(policy: Policy, name: str) -> tuple[Policy, int]:
    """The policy of a fork server's sandbox, beside `policy` (the run's): the run policy
    with FORK_SERVER_SYSCALLS and its clone rule left out of its denials and /proc writable
    (a child writes its new user namespace's uid map there; each child mounts a fresh,
    read-only /proc); and the clone rule's mask of namespace flags.

    Raises:
        ConfigError: the run policy does not deny each of them exactly once, or mounts no
            read-only /proc: the server's policy would not be the run's plus exactly these.
    """
    text = policy.path.read_text()
    rules = _CLONE_RULE.findall(text)
    if len(rules) != 1:
        raise ConfigError(f"policy {policy.path} has no one clone rule ({len(rules)})")
    text = _CLONE_RULE.sub("", text)
    for syscall in FORK_SERVER_SYSCALLS:
        text, found = re.subn(rf'(seccomp_string: "[^"\n]*?)\b{syscall},\s*', r"\1", text)
        if found != 1:
            raise ConfigError(f"policy {policy.path} does not deny {syscall} once ({found})")
    text, found = _PROC_READ_ONLY.subn(r"\1 true", text)
    if found != 1:
        raise ConfigError(f"policy {policy.path} mounts no read-only /proc")
    path = policy.path.with_name(f"{name}.cfg")
    _write_composed(path, text)
    return Policy(path=path, message=parse_textproto(text), origins=policy.origins), int(
        rules[0], 16
    )


def tmpfs_mounts(policy: Policy) -> list[str]:
    """The policy's tmpfs mounts as a fork server's child makes them again for each run:
    "<dst>:<MS_* flags>:<options>" each."""
    specs = []
    for mount in policy.mounts():
        if mount.get("fstype") != ["tmpfs"]:
            continue
        flags = sum(bit for key, bit in _MOUNT_FLAGS.items() if mount.get(key) == [True])
        flags |= 0 if mount.get("rw") == [True] else 0x1  # MS_RDONLY
        dst, options = str(mount["dst"][0]), str(mount.get("options", [""])[0])
        if ":" in dst:
            raise ConfigError(f"policy {policy.path}: a tmpfs at {dst!r} (a ':' in its path)")
        specs.append(f"{dst}:{flags}:{options}")
    return specs


async def validate(nsjail: Path, policy: Policy) -> None:
    """Have nsjail parse a composed policy against its own schema (`--config FILE
    --help` parses the file, then prints its usage and exits).

    Raises:
        ConfigError: nsjail refuses the file; names the shipped file, line and field.
    """
    proc = await asyncio.create_subprocess_exec(
        str(nsjail),
        "--config",
        str(policy.path),
        "--help",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(VALIDATE_TIMEOUT_S):
            _, err = await proc.communicate()
    except TimeoutError as e:
        proc.kill()
        await proc.wait()
        raise ConfigError(f"nsjail did not finish parsing {policy.path}") from e
    if proc.returncode == 0:
        return
    log = err.decode(errors="replace")
    found = _NSJAIL_PARSE_ERROR.search(log)
    if found is None:
        raise ConfigError(f"nsjail cannot read the policy {policy.path}: {log.strip()[-500:]}")
    line, column, what = int(found.group(1)), found.group(2), found.group(3).strip()
    raise ConfigError(f"policy {policy.where(line)}:{column}: {what} (composed in {policy.path})")


def base_values() -> dict[str, int]:
    """The integer fields of the shipped base.cfg (its rlimits and the like): the facts
    the limit vocabulary is checked against at start-up (limits.LimitTable)."""
    message = parse_textproto(policy_text("base.cfg"))
    return {
        name: values[-1]
        for name, values in message.items()
        if values and isinstance(values[-1], int) and not isinstance(values[-1], bool)
    }

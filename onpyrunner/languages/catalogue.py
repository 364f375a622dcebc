"""The language catalogue: runtimes.toml and its reader, read by the API and the sandbox.

A language is data: its display name, the binary that must exist for it to be offered,
the file its program is written to, how to probe its version, its compile and run phases
(a sandbox policy file and a command each), and a self-test. The API reads the catalogue
to know what a worker could offer; the sandbox probes it on the machine (see
sandbox/runtimes.py) to know what it can run.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from onpyrunner.errors import ConfigError

DEFAULT_TMP_MB = 16
#: The test kinds a harness may run (the stdio kind needs none).
HARNESS_KINDS = frozenset({"function_call", "assert"})


@dataclass(frozen=True)
class SelfTest:
    """A tiny program with its input and the output it must print."""

    source: str
    stdin: str
    stdout: str


@dataclass(frozen=True)
class PhaseSpec:
    """One table [<id>.compile] or [<id>.run] of runtimes.toml."""

    policy_file: str
    command: tuple[str, ...]
    artifacts: tuple[str, ...] = ()
    tmp_mb: int = DEFAULT_TMP_MB
    #: Warm start (sandbox/warm.py): the interpreter starts before the program is known.
    warm: bool = False
    #: Modules a warm interpreter imports before its program (they stay in sys.modules).
    preimport: tuple[str, ...] = ()
    #: The fork server may serve it (sandbox/warm.py, opt-in: settings.fork_server): a
    #: CPython whose warm interpreter forks each run's from one started per slot.
    fork: bool = False
    #: Compiler options a request may give (compile phases): regular expressions, each
    #: option must match one whole. None given: the language takes no options.
    options: tuple[str, ...] = ()

    def option_allowed(self, option: str) -> bool:
        """Whether a request's compiler option matches the allow-list."""
        return any(re.fullmatch(pattern, option) for pattern in self.options)


@dataclass(frozen=True)
class HarnessSpec:
    """[<id>.harness] of runtimes.toml: the program that runs a function_call or assert
    case (judge/kinds.py), a file under languages/harnesses/, and the kinds it runs."""

    file: str
    kinds: tuple[str, ...]

    def source(self) -> str:
        """The harness's text, shipped with the package."""
        return _harness_text(self.file)


@functools.cache
def _harness_text(file: str) -> str:
    return (resources.files("onpyrunner.languages") / "harnesses" / file).read_text()


@dataclass(frozen=True)
class RuntimeSpec:
    """One language of runtimes.toml, before probing."""

    id: str
    name: str
    binary: str
    source_file: str
    probe: tuple[str, ...]
    version: str
    run: PhaseSpec
    self_test: SelfTest
    compile: PhaseSpec | None = None
    main_class: str | None = None
    version_regex: str | None = None
    memory_error: str | None = None
    harness: HarnessSpec | None = None


def _str(table: dict[str, Any], key: str, rid: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"runtime {rid!r}: {key} must be a string")
    return value


def _strs(table: dict[str, Any], key: str, rid: str, required: bool = True) -> tuple[str, ...]:
    value = table.get(key, [] if not required else None)
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) for v in value)
        or (required and not value)
    ):
        raise ConfigError(f"runtime {rid!r}: {key} must be a non-empty list of strings")
    return tuple(value)


def _phase(table: object, rid: str, name: str) -> PhaseSpec:
    if not isinstance(table, dict):
        raise ConfigError(f"runtime {rid!r}: [{rid}.{name}] must be a table")
    tmp_mb = table.get("tmp_mb", DEFAULT_TMP_MB)
    if not isinstance(tmp_mb, int) or tmp_mb < 1:
        raise ConfigError(f"runtime {rid!r}: {name}.tmp_mb must be a positive integer")
    warm = table.get("warm", False)
    if not isinstance(warm, bool):
        raise ConfigError(f"runtime {rid!r}: {name}.warm must be true or false")
    command = _strs(table, "command", f"{rid}.{name}")
    if warm and (name != "run" or "${SOURCE}" not in command):
        raise ConfigError(f"runtime {rid!r}: warm start needs a run command that names ${{SOURCE}}")
    preimport = _strs(table, "preimport", f"{rid}.{name}", required=False)
    if preimport and not warm:
        raise ConfigError(f"runtime {rid!r}: {name}.preimport needs warm = true")
    fork = table.get("fork", False)
    if not isinstance(fork, bool):
        raise ConfigError(f"runtime {rid!r}: {name}.fork must be true or false")
    if fork and not warm:
        raise ConfigError(f"runtime {rid!r}: {name}.fork needs warm = true")
    options = _strs(table, "options", f"{rid}.{name}", required=False)
    for pattern in options:
        try:
            re.compile(pattern)
        except re.error as e:
            raise ConfigError(f"runtime {rid!r}: {name}.options {pattern!r}: {e}") from e
    return PhaseSpec(
        policy_file=_str(table, "policy", f"{rid}.{name}"),
        command=command,
        artifacts=_strs(table, "artifacts", f"{rid}.{name}", required=name == "compile"),
        tmp_mb=tmp_mb,
        warm=warm,
        preimport=preimport,
        fork=fork,
        options=options,
    )


def _harness(table: object, rid: str) -> HarnessSpec | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"runtime {rid!r}: [{rid}.harness] must be a table")
    kinds = _strs(table, "kinds", f"{rid}.harness")
    unknown = sorted(set(kinds) - HARNESS_KINDS)
    if unknown:
        raise ConfigError(f"runtime {rid!r}: harness.kinds has unknown kinds {unknown}")
    return HarnessSpec(file=_str(table, "file", f"{rid}.harness"), kinds=kinds)


def parse_specs(text: str) -> list[RuntimeSpec]:
    """Parse runtimes.toml text.

    Raises:
        ConfigError: a table misses a field or has one of the wrong type.
    """
    specs = []
    for rid, table in tomllib.loads(text).items():
        test = table.get("self_test")
        if not isinstance(test, dict):
            raise ConfigError(f"runtime {rid!r}: self_test table is missing")
        optional = {
            k: table[k]
            for k in ("main_class", "version_regex", "memory_error")
            if isinstance(table.get(k), str)
        }
        specs.append(
            RuntimeSpec(
                id=rid,
                name=_str(table, "name", rid),
                binary=_str(table, "binary", rid),
                source_file=_str(table, "source_file", rid),
                probe=_strs(table, "probe", rid),
                version=_str(table, "version", rid),
                run=_phase(table.get("run"), rid, "run"),
                compile=_phase(table["compile"], rid, "compile") if "compile" in table else None,
                harness=_harness(table.get("harness"), rid),
                self_test=SelfTest(
                    _str(test, "source", rid), _str(test, "stdin", rid), _str(test, "stdout", rid)
                ),
                **optional,
            )
        )
    return specs


@functools.cache
def shipped_specs() -> tuple[RuntimeSpec, ...]:
    """The runtimes shipped with the package (read once)."""
    text = (resources.files("onpyrunner.languages") / "runtimes.toml").read_text()
    return tuple(parse_specs(text))


def shipped_ids() -> frozenset[str]:
    """The ids of every shipped language, whether or not this machine has it."""
    return frozenset(spec.id for spec in shipped_specs())


def spec_of(language: str) -> RuntimeSpec | None:
    """The shipped entry of a language id, or None."""
    return next((spec for spec in shipped_specs() if spec.id == language), None)

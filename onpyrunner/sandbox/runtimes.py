"""The runtime registry: languages as data (runtimes.toml), probed on this machine."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from onpyrunner.errors import ConfigError
from onpyrunner.sandbox.policy import Policy, compose, substitute
from onpyrunner.settings import Settings

PROBE_TIMEOUT_S = 15


@dataclass(frozen=True)
class SelfTest:
    """A tiny program with its input and the output it must print."""

    source: str
    stdin: str
    stdout: str


@dataclass(frozen=True)
class RuntimeSpec:
    """One table of runtimes.toml, before probing."""

    id: str
    name: str
    binary: str
    policy_file: str
    source_file: str
    run: tuple[str, ...]
    probe: tuple[str, ...]
    version: str
    memory_error: str | None
    self_test: SelfTest


@dataclass(frozen=True)
class Runtime:
    """A runtime present on this machine: its spec, probed version and composed policy."""

    spec: RuntimeSpec
    version: str
    policy: Policy

    @property
    def id(self) -> str:
        return self.spec.id

    def memory_error_in(self, stderr: str) -> bool:
        """Whether stderr ends the way this runtime reports running out of memory."""
        if not self.spec.memory_error:
            return False
        lines = stderr.rstrip().splitlines()
        return bool(lines) and re.search(self.spec.memory_error, lines[-1]) is not None


def _str_tuple(table: dict[str, object], key: str, rid: str) -> tuple[str, ...]:
    value = table.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise ConfigError(f"runtime {rid!r}: {key} must be a non-empty list of strings")
    return tuple(str(v) for v in value)


def _str(table: dict[str, object], key: str, rid: str) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise ConfigError(f"runtime {rid!r}: {key} must be a string")
    return value


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
        memory_error = table.get("memory_error")
        specs.append(
            RuntimeSpec(
                id=rid,
                name=_str(table, "name", rid),
                binary=_str(table, "binary", rid),
                policy_file=_str(table, "policy", rid),
                source_file=_str(table, "source_file", rid),
                run=_str_tuple(table, "run", rid),
                probe=_str_tuple(table, "probe", rid),
                version=_str(table, "version", rid),
                memory_error=memory_error if isinstance(memory_error, str) else None,
                self_test=SelfTest(
                    source=_str(test, "source", rid),
                    stdin=_str(test, "stdin", rid),
                    stdout=_str(test, "stdout", rid),
                ),
            )
        )
    return specs


def shipped_specs() -> list[RuntimeSpec]:
    """The runtimes shipped with the package."""
    return parse_specs((resources.files("onpyrunner.sandbox") / "runtimes.toml").read_text())


def base_variables(settings: Settings) -> dict[str, str]:
    """Variables every runtime may use."""
    machine = {"aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine(), "x86_64")
    return {
        "PYTHON_PATH": str(settings.python_path),
        "PYPY_PATH": str(settings.pypy_path),
        "MULTIARCH_LIB": f"/usr/lib/{machine}-linux-gnu",
    }


def probe(spec: RuntimeSpec, variables: dict[str, str]) -> dict[str, str] | None:
    """Run the spec's probe on the host; its KEY=VALUE lines, or None if it is absent.

    The probe runs a trusted system binary with fixed arguments, never user input.
    """
    binary = Path(substitute(spec.binary, variables))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return None
    found = dict(variables, BINARY=str(binary.resolve()))
    argv = [substitute(a, found) for a in spec.probe]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False, env={}
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            found[key] = value.strip()
    return found


def discover(settings: Settings, policy_dir: Path) -> dict[str, Runtime]:
    """Probe every shipped runtime and compose the policies of those present.

    Raises:
        ConfigError: a shipped policy is broken.
    """
    found: dict[str, Runtime] = {}
    base = base_variables(settings)
    for spec in shipped_specs():
        variables = probe(spec, base)
        if variables is None:
            continue
        policy = compose(spec.policy_file, variables, policy_dir, spec.id)
        found[spec.id] = Runtime(
            spec=spec, version=substitute(spec.version, variables), policy=policy
        )
    return found

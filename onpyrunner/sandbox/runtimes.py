"""The runtimes of this machine: the language catalogue (languages/), probed here.

A language has a run phase and, if compiled, a compile phase. Each phase is a sandbox
policy (base.cfg + the phase's file) and a command; a slot's nsjail serves one phase of
one language at a time. Commands are templates filled per run: ${SOURCE}, ${MAIN},
${HEAP_MB}.
"""

from __future__ import annotations

import fnmatch
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from onpyrunner.languages.catalogue import PhaseSpec, RuntimeSpec, shipped_specs
from onpyrunner.limits import Limits
from onpyrunner.sandbox.nsjail import WARM_PATH, WARM_SCRIPT, warm_path
from onpyrunner.sandbox.policy import (
    FORK_SERVER_SYSCALLS,
    Policy,
    compose,
    fork_server_policy,
    substitute,
    tmpfs_mounts,
)
from onpyrunner.sandbox.warm import SERVE_FLAG
from onpyrunner.settings import Settings

PROBE_TIMEOUT_S = 20
#: How many runs one fork server forks before it makes way for a fresh one (a new hash
#: seed and address-space layout; docs/sandbox.md).
FORK_SERVER_RUNS = 100
#: Names a command may use that are filled per run.
PER_RUN = ("SOURCE", "MAIN", "HEAP_MB")
#: An argument of a command that stands for the caller's options (compiler options).
OPTIONS = "${OPTIONS}"


@dataclass(frozen=True)
class Phase:
    """A phase ready to run: its composed policy and its command template."""

    runtime_id: str
    name: str  # "compile" or "run"
    policy: Policy
    command: tuple[str, ...]
    artifacts: tuple[str, ...]
    #: Warm start: the command the sandbox init starts before the go (the interpreter and
    #: its flags running warm.py, which is told how many words of a run's command are
    #: those, and the modules to import); empty when the phase starts cold.
    warm_argv: tuple[str, ...] = ()
    #: The host file of the launcher that warm_argv runs (see warm_launcher).
    warm_script: Path = WARM_SCRIPT
    #: Fork server (opt-in): what nsjail starts instead of the init (warm.py --serve), and
    #: the policy it runs under; empty and None when the phase has none.
    server_argv: tuple[str, ...] = ()
    server_policy: Policy | None = None

    @property
    def policies(self) -> tuple[Policy, ...]:
        """Every policy file of the phase (for nsjail to validate at start-up)."""
        return (self.policy,) if self.server_policy is None else (self.policy, self.server_policy)

    @property
    def key(self) -> str:
        """What a slot's nsjail serves: one phase of one runtime."""
        return f"{self.runtime_id}:{self.name}"

    def argv(
        self, source_file: str, main: str, limits: Limits, options: tuple[str, ...] = ()
    ) -> list[str]:
        """The command of one run, its per-run names filled in; an argument that is exactly
        ${OPTIONS} becomes the options (none, or several arguments)."""
        heap_mb = max(16, limits.memory_mb * 3 // 4)
        values = {"SOURCE": source_file, "MAIN": main, "HEAP_MB": str(heap_mb)}
        argv: list[str] = []
        for arg in self.command:
            if arg == OPTIONS:
                argv += options
            else:
                argv.append(substitute(arg, values))
        return argv

    def is_artifact(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.artifacts)


@dataclass(frozen=True)
class Runtime:
    """A runtime present on this machine."""

    spec: RuntimeSpec
    version: str
    run: Phase
    compile: Phase | None
    #: The packages a profile ships (its probe's PACKAGES: "name==version ..."), name ->
    #: version.
    packages: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    def source_name(self, source: str) -> tuple[str, str]:
        """(file name, main class) the source is written under."""
        if self.spec.main_class:
            found = re.search(self.spec.main_class, source)
            main = found.group(1) if found else "Main"
            return f"{main}{Path(self.spec.source_file).suffix}", main
        return self.spec.source_file, Path(self.spec.source_file).stem

    def memory_error_in(self, stderr: str) -> bool:
        """Whether stderr ends the way this runtime reports running out of memory."""
        if not self.spec.memory_error:
            return False
        tail = "\n".join(stderr.rstrip().splitlines()[-30:])
        return re.search(self.spec.memory_error, tail, re.MULTILINE) is not None


def base_variables(settings: Settings) -> dict[str, str]:
    """Variables every runtime may use."""
    machine = {"aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine(), "x86_64")
    return {
        "PYTHON_PATH": str(settings.python_path),
        "PYPY_PATH": str(settings.pypy_path),
        "PYTHON_SCI_PATH": str(settings.python_sci_path),
        "THREADS": str(max(1, len(os.sched_getaffinity(0)) // settings.effective_concurrency())),
        "MULTIARCH_LIB": f"/usr/lib/{machine}-linux-gnu",
    }


def probe(spec: RuntimeSpec, variables: dict[str, str]) -> dict[str, str] | None:
    """Run the spec's probe on the host; the variables it yields, or None if absent.

    The probe runs a trusted system binary with fixed arguments, never user input.
    """
    binary = Path(substitute(spec.binary, variables))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return None
    real = binary.resolve()
    found = dict(variables, BINARY=str(real), BINARY_HOME=str(real.parent.parent))
    argv = [substitute(a, found) for a in spec.probe]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    output = (proc.stdout + proc.stderr).strip()
    pairs = [line.partition("=") for line in output.splitlines()]
    keyed = {k: v.strip() for k, sep, v in pairs if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", k)}
    found.update(keyed)
    if spec.version_regex:
        match = re.search(spec.version_regex, output)
        if match is None:
            return None
        found["VERSION"] = match.group(1)
    elif not keyed:
        found["VERSION"] = output.splitlines()[0].strip() if output else "unknown"
    major = re.match(r"\d+", found.get("VERSION", ""))
    found["VERSION_MAJOR"] = major.group() if major else ""
    return found


def _compose_phase(
    spec: RuntimeSpec,
    phase: PhaseSpec,
    name: str,
    variables: dict[str, str],
    out: Path,
    warm_start: bool = False,
    fork_server: bool = False,
) -> Phase:
    per_run = {k: f"${{{k}}}" for k in (*PER_RUN, "OPTIONS")}  # left for argv() to fill in
    policy_vars = dict(variables, TMP_SIZE=str(phase.tmp_mb << 20))
    policy = compose(phase.policy_file, policy_vars, out, f"{spec.id}.{name}")
    command = tuple(substitute(arg, {**variables, **per_run}) for arg in phase.command)
    warm_argv: tuple[str, ...] = ()
    script = WARM_SCRIPT
    if warm_start and phase.warm:
        interpreter = command[: command.index("${SOURCE}")]
        script = warm_launcher(variables.get("BINARY", interpreter[0]), out, f"{spec.id}.{name}")
        launcher = warm_path(script)
        warm_argv = (*interpreter, launcher, str(len(interpreter)), *phase.preimport)
    server_argv: tuple[str, ...] = ()
    server_policy = None
    # A server that imported a profile's modules with more than one BLAS thread holds
    # threads, and a process with threads cannot fork safely: such a phase keeps warm start.
    one_thread = not phase.preimport or variables.get("THREADS", "1") == "1"
    if warm_argv and fork_server and phase.fork and one_thread:
        server_policy, clone_mask = fork_server_policy(policy, f"{spec.id}.{name}.server")
        server_argv = (
            *warm_argv[: len(interpreter) + 1],
            SERVE_FLAG,
            str(len(interpreter)),
            str(FORK_SERVER_RUNS),
            ",".join((*FORK_SERVER_SYSCALLS, f"clone&{clone_mask:#x}")),
            str(policy.scalar("cwd")),
            *tmpfs_mounts(policy),
            "--",
            *phase.preimport,
        )
    return Phase(
        spec.id,
        name,
        policy,
        command,
        phase.artifacts,
        warm_argv,
        script,
        server_argv,
        server_policy,
    )


#: Compiles warm.py (argv: source, target, the name tracebacks show) with py_compile, on
#: CPython only: PyPy imports modules of its own to run bytecode as a script, which a
#: program would then find in sys.modules (and it gains little: PyPy compiles fast).
_COMPILE = (
    "import py_compile, sys; "
    "sys.implementation.name == 'cpython' or sys.exit(3); "
    "py_compile.compile(sys.argv[1], cfile=sys.argv[2], dfile=sys.argv[3], doraise=True)"
)


def warm_launcher(interpreter: str, out: Path, name: str) -> Path:
    """warm.py compiled by the runtime's own interpreter, which then runs the bytecode as
    its script instead of compiling the launcher's source on every warm start (about a
    millisecond of CPU each time); the source itself on PyPy, or when the interpreter
    cannot compile it."""
    target = out / f"warm.{name}.pyc"
    try:
        subprocess.run(
            [interpreter, "-I", "-c", _COMPILE, str(WARM_SCRIPT), str(target), WARM_PATH],
            check=True,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError):
        return WARM_SCRIPT
    return target


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
        found[spec.id] = Runtime(
            spec=spec,
            version=substitute(spec.version, variables),
            run=_compose_phase(
                spec,
                spec.run,
                "run",
                variables,
                policy_dir,
                settings.warm_start,
                settings.fork_server,
            ),
            compile=_compose_phase(spec, spec.compile, "compile", variables, policy_dir)
            if spec.compile
            else None,
            packages=dict(
                pkg.split("==", 1) for pkg in variables.get("PACKAGES", "").split() if "==" in pkg
            ),
        )
    return found


def phases_of(runtimes: dict[str, Runtime]) -> list[Phase]:
    """Every phase of the runtimes: what a slot's nsjail may serve."""
    phases = [runtime.run for runtime in runtimes.values()]
    phases += [runtime.compile for runtime in runtimes.values() if runtime.compile is not None]
    return phases

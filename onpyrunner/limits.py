"""The limit vocabulary: each limit's name, unit, bounds, shipped values, and backstop.

This module is the one source of every fact about a run's limits. The shipped default,
server maximum, compile-phase value and checker value (custom checkers and interactors) of
each limit are here; settings may change them (`ONPYRUNNER_DEFAULT_<NAME>`,
`ONPYRUNNER_MAX_<NAME>`, `ONPYRUNNER_COMPILE_<NAME>`, `ONPYRUNNER_CHECKER_<NAME>`, checked
against the lower bound here). A request's limits, and its compile's (`compile_limits`: at
most the compile values), are resolved once, by `LimitTable.resolve`, whatever API it came
through (adapters convert their units at their edge only). At start-up
`LimitTable.check_backstops` proves that the sandbox policy's fixed backstops (base.cfg's
rlimits) sit above the largest value a run can get.

Adding a limit: a `LimitSpec` here, a field of `Limits` (and of the API's `LimitsIn`, the
settings' three fields), its enforcement in the sandbox, and its line in the docs; a test
checks that these names agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field

from onpyrunner.errors import ConfigError


def rlimit_cpu_s(cpu_time_ms: int) -> int:
    """The per-process CPU rlimit (seconds) behind a run's CPU limit: a backstop for a
    host that cannot watch in time, never the limit itself. The kernel checks it against
    tick-sampled CPU time, which under load runs ahead of the exact time the host watches
    (by 15% seen here), so it sits at half the limit and a second above it: when it fires,
    the exact CPU time is over the limit too."""
    return -(-cpu_time_ms * 3 // 2000) + 1


def rlimit_fsize_mib(max_file_kb: int) -> int:
    """The file-size rlimit a run's max_file_kb needs, in the policy's unit (MiB)."""
    return -(-max_file_kb // 1024)


@dataclass(frozen=True)
class Backstop:
    """A policy field (base.cfg) that every value of a limit must stay under."""

    field: str
    unit: str
    #: The value the policy field must at least have for a limit value.
    needs: Callable[[int], int]


@dataclass(frozen=True)
class LimitSpec:
    """One limit of a run."""

    name: str
    unit: str
    description: str
    default: int
    maximum: int
    #: The smallest value a request or a setting may give.
    minimum: int
    #: What a compile gets (compiles are the service's own runs, not the user's), and the
    #: most a request's compile_limits may ask for.
    compile: int
    #: What a checker or an interactor gets (the problem's own programs, not the user's).
    checker: int
    backstop: Backstop | None = None


SPECS: tuple[LimitSpec, ...] = (
    LimitSpec(
        "cpu_time_ms",
        "ms",
        "CPU time of the whole process tree",
        default=2000,
        maximum=15000,
        minimum=1,
        compile=10_000,
        checker=5000,
        backstop=Backstop("rlimit_cpu", "s", rlimit_cpu_s),
    ),
    LimitSpec(
        "wall_time_ms",
        "ms",
        "wall-clock time",
        default=5000,
        maximum=30000,
        minimum=1,
        compile=20_000,
        checker=10_000,
    ),
    LimitSpec(
        "memory_mb",
        "MiB",
        "memory of the whole process tree",
        default=128,
        maximum=1024,
        minimum=1,
        compile=512,
        checker=256,
    ),
    LimitSpec(
        "output_kb",
        "KiB",
        "stdout and stderr, each",
        default=64,
        maximum=1024,
        minimum=1,
        compile=64,
        checker=1024,  # an interactor's stdout is everything it says in an exchange
    ),
    LimitSpec(
        "max_processes",
        "",
        "processes and threads of the whole tree",
        default=32,
        maximum=128,
        minimum=1,
        compile=64,
        checker=32,
    ),
    LimitSpec(
        "max_file_kb",
        "KiB",
        "largest file a process may write",
        default=1024,
        maximum=16384,
        minimum=0,
        compile=65_536,
        checker=1024,
        backstop=Backstop("rlimit_fsize", "MiB", rlimit_fsize_mib),
    ),
)

BY_NAME: Mapping[str, LimitSpec] = {spec.name: spec for spec in SPECS}

#: The wall time of an interactive job (a live session, docs/api.md): it counts the time its
#: program waits for a person's input, so its default and maximum are their own settings
#: (`ONPYRUNNER_DEFAULT_INTERACTIVE_WALL_TIME_MS`, `ONPYRUNNER_MAX_INTERACTIVE_WALL_TIME_MS`),
#: longer than a batch run's. Every other limit of an interactive job is a batch run's.
INTERACTIVE_WALL_TIME_MS = LimitSpec(
    "interactive_wall_time_ms",
    "ms",
    "wall-clock time of an interactive job (waiting for input counts)",
    default=60_000,
    maximum=600_000,
    minimum=1,
    compile=20_000,  # unused: a compile gets compile_wall_time_ms
    checker=10_000,  # unused: a checker or interactor gets checker_wall_time_ms
)


def _field(name: str) -> int:
    spec = BY_NAME[name]
    return Field(spec.default, ge=spec.minimum, description=f"{spec.description} ({spec.unit})")


class Limits(BaseModel):
    """The resource limits of one run, resolved (see LimitTable.resolve)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_time_ms: int = _field("cpu_time_ms")
    wall_time_ms: int = _field("wall_time_ms")
    memory_mb: int = _field("memory_mb")
    output_kb: int = _field("output_kb")
    max_processes: int = _field("max_processes")
    max_file_kb: int = _field("max_file_kb")


@dataclass(frozen=True)
class LimitProblem:
    """One requested limit the server refuses."""

    name: str
    message: str
    kind: str  # pydantic's error type: "less_than_equal" or "greater_than_equal"
    bound: int  # the maximum or minimum passed
    value: int  # what was asked for


class LimitsError(ValueError):
    """Requested limits outside the server's bounds; one problem per limit. for_compile:
    the limits of a compile (a request's compile_limits)."""

    def __init__(self, problems: list[LimitProblem], for_compile: bool = False) -> None:
        self.problems = problems
        self.for_compile = for_compile
        super().__init__("; ".join(f"{p.name}: {p.message}" for p in problems))


@dataclass(frozen=True)
class LimitTable:
    """The limits of this server: what a run gets by default, the most it may ask for,
    what a compile gets, and what a checker or interactor gets. Built once from the
    settings."""

    defaults: Limits
    maximums: Limits
    compile: Limits
    checker: Limits
    #: The stack every run gets, KiB: fixed by the sandbox policy (base.cfg's
    #: rlimit_stack), not a limit a request sets. Known once checked against the policy.
    stack_kb: int | None = None
    #: An interactive job's wall time: default and maximum (INTERACTIVE_WALL_TIME_MS).
    interactive_wall_time_ms: int = INTERACTIVE_WALL_TIME_MS.default
    max_interactive_wall_time_ms: int = INTERACTIVE_WALL_TIME_MS.maximum

    @classmethod
    def of(cls, values: Callable[[str], int]) -> LimitTable:
        """The table from a source of values ("default_cpu_time_ms" -> 2000, ...).

        Raises:
            ConfigError: a value under its lower bound, or a default above its maximum.
        """
        tables: dict[str, dict[str, int]] = {"default": {}, "max": {}, "compile": {}, "checker": {}}
        problems = []
        for spec in SPECS:
            for kind, table in tables.items():
                value = values(f"{kind}_{spec.name}")
                if value < spec.minimum:
                    problems.append(f"{kind}_{spec.name}={value} is below {spec.minimum}")
                table[spec.name] = value
            if tables["default"][spec.name] > tables["max"][spec.name]:
                problems.append(
                    f"default_{spec.name}={tables['default'][spec.name]} is above "
                    f"max_{spec.name}={tables['max'][spec.name]}"
                )
        interactive = {
            kind: values(f"{kind}_{INTERACTIVE_WALL_TIME_MS.name}") for kind in ("default", "max")
        }
        for kind, value in interactive.items():
            if value < INTERACTIVE_WALL_TIME_MS.minimum:
                problems.append(f"{kind}_{INTERACTIVE_WALL_TIME_MS.name}={value} is below 1")
        if interactive["default"] > interactive["max"]:
            problems.append(
                f"default_interactive_wall_time_ms={interactive['default']} is above "
                f"max_interactive_wall_time_ms={interactive['max']}"
            )
        if problems:
            raise ConfigError("limit settings: " + "; ".join(problems))
        return cls(
            defaults=Limits(**tables["default"]),
            maximums=Limits(**tables["max"]),
            compile=Limits(**tables["compile"]),
            checker=Limits(**tables["checker"]),
            interactive_wall_time_ms=interactive["default"],
            max_interactive_wall_time_ms=interactive["max"],
        )

    @classmethod
    def shipped(cls) -> LimitTable:
        """The table with every shipped value."""
        shipped = {
            "default": "default",
            "max": "maximum",
            "compile": "compile",
            "checker": "checker",
        }

        def value(key: str) -> int:
            kind, _, name = key.partition("_")
            spec = INTERACTIVE_WALL_TIME_MS if name == INTERACTIVE_WALL_TIME_MS.name else None
            return int(getattr(spec or BY_NAME[name], shipped[kind]))

        return cls.of(value)

    def resolve(
        self,
        requested: Mapping[str, int | None],
        interactive: bool = False,
        for_compile: bool = False,
    ) -> Limits:
        """A request's limits: what it asks for, the defaults for the rest.

        Args:
            requested: limit name -> value, in this module's units; None or absent
                means the default.
            interactive: an interactive job's: its wall time has its own default and
                maximum (INTERACTIVE_WALL_TIME_MS).
            for_compile: the limits of the request's compile (its `compile_limits`): the
                server's compile values are both the default and the maximum, so a request
                may only shorten them. `interactive` does not apply to a compile.

        Raises:
            LimitsError: a value over the server's maximum (its compile value, for a
                compile) or under the lower bound.
        """
        if for_compile:
            chosen = self.compile.model_dump()
            maximums = self.compile.model_dump()
            ceiling = "the server's compile limit"
        else:
            chosen = self.defaults.model_dump()
            maximums = self.maximums.model_dump()
            ceiling = "the server maximum"
        if interactive and not for_compile:
            chosen["wall_time_ms"] = self.interactive_wall_time_ms
            maximums["wall_time_ms"] = self.max_interactive_wall_time_ms
        problems = []
        for name, value in requested.items():
            if value is None:
                continue
            spec = BY_NAME[name]
            maximum = maximums[name]
            if value > maximum:
                message = f"must be at most {maximum} ({ceiling})"
                problems.append(LimitProblem(name, message, "less_than_equal", maximum, value))
            elif value < spec.minimum:
                message = f"must be at least {spec.minimum}"
                problems.append(
                    LimitProblem(name, message, "greater_than_equal", spec.minimum, value)
                )
            chosen[name] = value
        if problems:
            raise LimitsError(problems, for_compile)
        return Limits(**chosen)

    def checked_against(self, policy_values: Mapping[str, int], policy_name: str) -> LimitTable:
        """This table, proven enforceable by the sandbox policy: its fixed backstops sit
        above every value a run or a compile can get. Returns the table with the policy's
        fixed stack size.

        Args:
            policy_values: the policy's integer fields (e.g. {"rlimit_cpu": 60, ...}).

        Raises:
            ConfigError: a maximum or compile value the policy cannot enforce; says which
                setting and which policy field.
        """
        problems = []
        for spec in SPECS:
            if spec.backstop is None:
                continue
            have = policy_values.get(spec.backstop.field)
            if have is None:
                problems.append(f"{policy_name} does not set {spec.backstop.field}")
                continue
            tables = (("max", self.maximums), ("compile", self.compile), ("checker", self.checker))
            for kind, table in tables:
                value = getattr(table, spec.name)
                needs = spec.backstop.needs(value)
                if needs > have:
                    problems.append(
                        f"{kind}_{spec.name}={value} needs {spec.backstop.field} >= {needs} "
                        f"{spec.backstop.unit}, and {policy_name} sets {have}"
                    )
        if problems:
            raise ConfigError("limits above the sandbox policy's backstops: " + "; ".join(problems))
        stack_mib = policy_values.get("rlimit_stack")
        return replace(self, stack_kb=stack_mib * 1024 if stack_mib is not None else None)

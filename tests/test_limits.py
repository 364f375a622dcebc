"""The limit vocabulary: one source of names, units, bounds, defaults and backstops."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from onpyrunner.api.schemas import LimitsIn
from onpyrunner.errors import ConfigError
from onpyrunner.limits import (
    SPECS,
    LimitProblem,
    Limits,
    LimitsError,
    LimitTable,
    rlimit_cpu_s,
    rlimit_fsize_mib,
)
from onpyrunner.sandbox import policy
from onpyrunner.service import limit_table
from onpyrunner.settings import Settings

NAMES = [spec.name for spec in SPECS]


def test_every_limit_is_named_alike_in_the_model_the_api_and_the_settings() -> None:
    assert list(Limits.model_fields) == NAMES
    assert list(LimitsIn.model_fields) == NAMES
    for name in NAMES:
        for kind in ("default", "max", "compile", "checker"):
            assert f"{kind}_{name}" in Settings.model_fields, f"{kind}_{name}"


def test_the_shipped_values_come_from_the_vocabulary() -> None:
    table = Settings().limit_table()
    assert table == LimitTable.shipped()
    for spec in SPECS:
        assert getattr(table.defaults, spec.name) == spec.default == getattr(Limits(), spec.name)
        assert getattr(table.maximums, spec.name) == spec.maximum
        assert getattr(table.compile, spec.name) == spec.compile
        assert getattr(table.checker, spec.name) == spec.checker


def test_resolve_fills_in_the_defaults() -> None:
    table = LimitTable.shipped()
    limits = table.resolve({"cpu_time_ms": 500, "memory_mb": None})
    assert limits == table.defaults.model_copy(update={"cpu_time_ms": 500})


def test_resolve_refuses_values_outside_the_bounds_naming_each() -> None:
    table = LimitTable.shipped()
    with pytest.raises(LimitsError) as caught:
        table.resolve({"cpu_time_ms": 15001, "memory_mb": 0, "wall_time_ms": 30000})
    assert caught.value.problems == [
        LimitProblem(
            "cpu_time_ms",
            "must be at most 15000 (the server maximum)",
            "less_than_equal",
            15000,
            15001,
        ),
        LimitProblem("memory_mb", "must be at least 1", "greater_than_equal", 1, 0),
    ]


def test_a_compile_gets_the_compile_values_unless_it_asks_for_less() -> None:
    table = LimitTable.shipped()
    assert table.resolve({}, for_compile=True) == table.compile
    shorter = table.resolve({"wall_time_ms": 50, "cpu_time_ms": None}, for_compile=True)
    assert shorter == table.compile.model_copy(update={"wall_time_ms": 50})
    # an interactive job's compile is a compile like any other
    assert table.resolve({}, interactive=True, for_compile=True) == table.compile


def test_a_compile_may_not_ask_for_more_than_the_compile_values_or_less_than_the_bound() -> None:
    table = LimitTable.shipped()
    most = table.compile.wall_time_ms
    assert table.resolve({"wall_time_ms": most}, for_compile=True).wall_time_ms == most
    with pytest.raises(LimitsError) as caught:
        table.resolve({"wall_time_ms": most + 1, "memory_mb": 0}, for_compile=True)
    assert caught.value.problems == [
        LimitProblem(
            "wall_time_ms",
            f"must be at most {most} (the server's compile limit)",
            "less_than_equal",
            most,
            most + 1,
        ),
        LimitProblem("memory_mb", "must be at least 1", "greater_than_equal", 1, 0),
    ]
    # the compile values are their own: above a run's maximum where they are (max_file_kb)
    big = table.compile.max_file_kb
    assert big > table.maximums.max_file_kb
    assert table.resolve({"max_file_kb": big}, for_compile=True).max_file_kb == big


def test_an_interactive_job_has_a_wall_time_of_its_own_default_and_maximum() -> None:
    table = LimitTable.shipped()
    assert table.interactive_wall_time_ms > table.defaults.wall_time_ms
    assert table.max_interactive_wall_time_ms > table.maximums.wall_time_ms
    limits = table.resolve({"cpu_time_ms": 500}, interactive=True)
    assert limits.wall_time_ms == table.interactive_wall_time_ms
    assert limits.cpu_time_ms == 500
    most = table.max_interactive_wall_time_ms
    assert table.resolve({"wall_time_ms": most}, interactive=True).wall_time_ms == most
    with pytest.raises(LimitsError, match=f"at most {most} "):
        table.resolve({"wall_time_ms": most + 1}, interactive=True)
    with pytest.raises(LimitsError):
        table.resolve({"wall_time_ms": most})  # a batch job keeps the batch maximum


def test_an_interactive_wall_default_above_its_maximum_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="default_interactive_wall_time_ms=9 is above"):
        Settings(default_interactive_wall_time_ms=9, max_interactive_wall_time_ms=8)


@pytest.mark.parametrize(
    "setting", ["default_cpu_time_ms", "max_memory_mb", "compile_output_kb", "max_max_processes"]
)
def test_a_limit_setting_under_its_lower_bound_is_refused_at_start(setting: str) -> None:
    with pytest.raises(ValidationError, match=setting):
        Settings(**{setting: 0})  # type: ignore[arg-type]


def test_a_default_above_its_maximum_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="default_memory_mb=2048 is above max_memory_mb"):
        Settings(default_memory_mb=2048)


def test_the_shipped_limits_sit_under_the_policy_backstops() -> None:
    table = limit_table(Settings())
    assert table.stack_kb == policy.base_values()["rlimit_stack"] * 1024


def test_a_maximum_the_policy_cannot_enforce_is_refused_at_start() -> None:
    settings = Settings(max_cpu_time_ms=100_000, compile_max_file_kb=1 << 20)
    with pytest.raises(ConfigError) as caught:
        limit_table(settings)
    message = str(caught.value)
    assert "max_cpu_time_ms=100000 needs rlimit_cpu >= 151 s, and base.cfg sets 60" in message
    assert "compile_max_file_kb=1048576 needs rlimit_fsize >= 1024 MiB" in message


@pytest.mark.parametrize("cpu_time_ms", [1, 999, 1000, 1001, 2000, 15000])
def test_the_cpu_rlimit_backstop_sits_well_above_the_limit(cpu_time_ms: int) -> None:
    # The kernel checks the rlimit on tick-sampled time, which runs ahead of exact time
    # under load: the backstop must never fire before the exact time reaches the limit.
    assert rlimit_cpu_s(cpu_time_ms) * 1000 >= cpu_time_ms * 1.5 + 1000


@pytest.mark.parametrize(("kb", "mib"), [(0, 0), (1, 1), (1024, 1), (1025, 2), (65536, 64)])
def test_the_file_size_backstop_is_counted_in_whole_mib(kb: int, mib: int) -> None:
    assert rlimit_fsize_mib(kb) == mib

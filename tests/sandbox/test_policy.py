"""The policy files are data: parsed, composed, and the one source of the sandbox's limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from onpyrunner.errors import ConfigError
from onpyrunner.languages.catalogue import shipped_specs
from onpyrunner.sandbox.policy import compose, parse_textproto, policy_text, substitute
from onpyrunner.sandbox.pool import Sandbox
from onpyrunner.settings import Settings
from tests.service import uid_base


def test_textproto_reader_handles_nesting_comments_and_strings() -> None:
    text = """
        # a comment
        name: "x" # trailing comment
        time_limit: 0
        keep_env: false
        rlimit_as_type: INF
        mount { dst: "/tmp" options: "size=1" rw: true }
        mount {
          src_content: "a\\nb" "c"
          dst: "/etc/x"
        }
        seccomp_string: "one"
        seccomp_string: "two"
    """
    message = parse_textproto(text)
    assert message["name"] == ["x"]
    assert message["time_limit"] == [0]
    assert message["keep_env"] == [False]
    assert message["rlimit_as_type"] == ["INF"]
    assert message["mount"] == [
        {"dst": ["/tmp"], "options": ["size=1"], "rw": [True]},
        {"src_content": ["a\nbc"], "dst": ["/etc/x"]},
    ]
    assert message["seccomp_string"] == ["one", "two"]


@pytest.mark.parametrize("text", ["mount {", "}", "name: ", 'name: "unterminated'])
def test_textproto_reader_rejects_broken_text(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_textproto(text)


def test_undefined_variable_is_an_error() -> None:
    with pytest.raises(ConfigError, match="NOPE"):
        substitute('src: "${NOPE}"', {})


def test_base_policy_turns_on_every_namespace_and_limits_tmp(tmp_path: Path) -> None:
    policy = compose(
        "python.cfg",
        {
            "BINARY": "/usr/bin/python3.11",
            "STDLIB": "/usr/lib/p",
            "MULTIARCH_LIB": "/usr/lib/x",
            "TMP_SIZE": str(16 << 20),
        },
        tmp_path,
        "t",
    )
    for ns in ("net", "user", "ns", "pid", "ipc", "uts", "cgroup"):
        assert policy.scalar(f"clone_new{ns}") is True
    assert policy.scalar("keep_env") is False
    assert policy.scalar("disable_no_new_privs") is False
    assert policy.tmpfs_size_bytes("/tmp") == 16 << 20
    assert "/usr/bin/python3" in policy.mount_destinations()
    # The working directory is a tmpfs of each sandbox's own, the run's files are added per
    # slot, read-only, where only the init looks.
    assert policy.tmpfs_size_bytes("/sandbox") == 16 << 20
    assert "/.onpyrunner/in" not in policy.mount_destinations()
    assert policy.path.read_text().startswith(policy_text("base.cfg").split("${")[0])


def test_policy_backstops_sit_above_the_server_maximums() -> None:
    settings = Settings()
    policy = parse_textproto(policy_text("base.cfg"))
    assert policy["rlimit_cpu"][-1] * 1000 > settings.max_cpu_time_ms  # type: ignore[operator]
    assert policy["rlimit_fsize"][-1] * 1024 >= settings.max_max_file_kb  # type: ignore[operator]


def test_every_shipped_runtime_names_a_shipped_policy() -> None:
    for spec in shipped_specs():
        assert policy_text(spec.run.policy_file)
        if spec.compile is not None:
            assert policy_text(spec.compile.policy_file)
        assert spec.run and spec.source_file


def test_a_compile_policy_includes_another_instead_of_copying_it(tmp_path: Path) -> None:
    variables = {"TMP_SIZE": "1", "MULTIARCH_LIB": "/usr/lib/x"}
    go = compose("go.compile.cfg", variables, tmp_path, "go")
    toolchain = compose("toolchain.compile.cfg", variables, tmp_path, "toolchain")
    shared = toolchain.mount_destinations()
    assert go.mount_destinations()[: len(shared)] == shared
    assert "/usr/share" in go.mount_destinations()
    assert "# include:" not in go.path.read_text()


@pytest.mark.sandbox
async def test_a_misspelled_policy_field_fails_at_start_up_naming_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nsjail parses the composed file against its own schema at start-up: the mistake is
    # named where it was made (the shipped file and its line), not at the first run.
    shipped = policy_text
    line = shipped("python.cfg").splitlines().index("  is_bind: true") + 1

    def misspelled(name: str) -> str:
        text = shipped(name)
        return text.replace("is_bind: true", "is_bnd: true", 1) if name == "python.cfg" else text

    monkeypatch.setattr("onpyrunner.sandbox.policy.policy_text", misspelled)
    settings = Settings(state_dir=tmp_path, sandbox_uid_base=uid_base())
    with pytest.raises(ConfigError) as caught:
        await Sandbox.start(settings, slots=1)
    message = str(caught.value)
    assert f"python.cfg line {line}:" in message, message
    assert 'no field named "is_bnd"' in message, message

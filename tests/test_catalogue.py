"""The language catalogue's warm-start fields: declared per run phase, checked at load."""

from __future__ import annotations

import pytest

from onpyrunner.errors import ConfigError
from onpyrunner.languages.catalogue import parse_specs, spec_of

ENTRY = """
[lang]
name = "L"
binary = "/usr/bin/l"
source_file = "main.l"
probe = ["${{BINARY}}"]
version = "L"

[lang.run]
policy = "l.cfg"
command = {command}
{extra}

[lang.self_test]
source = ""
stdin = ""
stdout = ""
"""


def entry(command: str = '["/usr/bin/l", "${SOURCE}"]', extra: str = "") -> str:
    return ENTRY.format(command=command, extra=extra)


def test_warm_start_is_declared_per_language() -> None:
    for rid in ("python", "pypy", "python-sci"):
        spec = spec_of(rid)
        assert spec is not None and spec.run.warm, rid
    c = spec_of("c")
    assert c is not None and not c.run.warm  # compiled languages keep today's path
    sci = spec_of("python-sci")
    assert sci is not None and sci.run.preimport == ("numpy",)


def test_a_warm_phase_with_pre_imports_is_read() -> None:
    (spec,) = parse_specs(entry(extra='warm = true\npreimport = ["json"]'))
    assert spec.run.warm
    assert spec.run.preimport == ("json",)


@pytest.mark.parametrize(
    ("command", "extra", "error"),
    [
        ('["/usr/bin/l", "main.l"]', "warm = true", "names"),
        ('["/usr/bin/l", "${SOURCE}"]', 'warm = "yes"', "true or false"),
        ('["/usr/bin/l", "${SOURCE}"]', 'preimport = ["json"]', "needs warm"),
    ],
)
def test_a_warm_phase_that_cannot_work_is_refused(command: str, extra: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_specs(entry(command, extra))

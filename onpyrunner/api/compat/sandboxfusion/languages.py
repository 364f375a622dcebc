"""SandboxFusion's language names for OnPyRunner's runtimes, as data.

A SandboxFusion language is offered while the live workers offer its runtime (a language
whose runtime appears later, such as `pytest` on the scientific Python runtime, is offered
from then on with no change here). A language may run the user's code through a driver:
the code is written to `code_file` beside it, and the driver is the program that runs
(pytest collects the code's tests); the request's `args` follow the driver's command.
"""

from __future__ import annotations

from dataclasses import dataclass

from onpyrunner.languages.catalogue import spec_of


@dataclass(frozen=True)
class FusionLanguage:
    """One SandboxFusion language and the OnPyRunner runtime behind it."""

    name: str
    runtime: str
    #: Where the user's code goes when a driver runs it; None: the code is the program.
    code_file: str | None = None
    driver: str | None = None

    @property
    def compiled(self) -> bool:
        """Whether its runtime compiles (SandboxFusion's compile_result is then given)."""
        spec = spec_of(self.runtime)
        return spec is not None and spec.compile is not None


#: pytest on the code's file; arguments after the command go to pytest; its exit status is
#: pytest's (0: every test passed).
PYTEST_DRIVER = (
    "import sys\n"
    "import pytest\n"
    "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'test_solution.py', *sys.argv[1:]]))\n"
)

LANGUAGES: tuple[FusionLanguage, ...] = (
    FusionLanguage("python", "python"),
    FusionLanguage("cpp", "cpp"),
    FusionLanguage("nodejs", "javascript"),
    FusionLanguage("go", "go"),
    FusionLanguage("java", "java"),
    FusionLanguage("bash", "bash"),
    FusionLanguage("rust", "rust"),
    FusionLanguage("pytest", "python-sci", code_file="test_solution.py", driver=PYTEST_DRIVER),
)

BY_NAME = {lang.name: lang for lang in LANGUAGES}


def offered(runtimes: frozenset[str]) -> list[FusionLanguage]:
    """The SandboxFusion languages whose runtime is among runtimes, in LANGUAGES' order."""
    return [lang for lang in LANGUAGES if lang.runtime in runtimes]

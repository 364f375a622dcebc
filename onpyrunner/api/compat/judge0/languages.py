"""Judge0 CE 1.13.1 language ids for OnPyRunner's runtimes.

Clients hard-code Judge0's ids, so each runtime answers to the id Judge0 gives that
language. A runtime is listed (and accepted) only while some live worker offers it, so the
entries for compiled languages appear by themselves once a worker has their toolchain.
Judge0 1.13.1 lists some languages under several ids, one per compiler version (C: 48, 49,
50; C++: 52, 53, 54); OnPyRunner has one compiler each, so the older ids are aliases of the
newest and carry the same name. The official SDK resolves `judge0.CPP` to 52, which is why
the aliases are listed at all. PyPy has no id in Judge0 CE 1.13.1 and is not offered here.

The scientific Python profile (`python-sci`) has no Judge0 CE id either; it is OnPyRunner's
own id PYTHON_SCI_ID, far above every id of every Judge0 flavour (the official SDK knows ids
up to 113, Judge0 CE 1.14.0's), named as Judge0 Extra names its counterpart ("Python for ML").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from onpyrunner.languages.catalogue import RuntimeSpec
from onpyrunner.languages.catalogue import spec_of as catalogue_spec
from onpyrunner.queue.store import LanguageInfo


@dataclass(frozen=True)
class Judge0Language:
    """One Judge0 language id and the OnPyRunner runtime behind it."""

    id: int
    runtime: str
    name: str  # "{version}" is replaced by the version the workers probed

    @property
    def compiled(self) -> bool:
        """Whether its runtime compiles."""
        spec = catalogue_spec(self.runtime)
        return spec is not None and spec.compile is not None

    def display_name(self, version: str | None) -> str:
        """Judge0's style of name: "Python (3.11.2)"."""
        if version is None:
            return re.sub(r"\s*\(\{version\}\)|\s*\{version\}", "", self.name)
        return self.name.replace("{version}", version)


#: The Judge0 id of the python-sci runtime: OnPyRunner's own (see above).
PYTHON_SCI_ID = 1001

#: Ordered as GET /languages lists them (Judge0 orders by name).
LANGUAGES: tuple[Judge0Language, ...] = (
    Judge0Language(46, "bash", "Bash ({version})"),
    Judge0Language(48, "c", "C (GCC {version})"),
    Judge0Language(49, "c", "C (GCC {version})"),
    Judge0Language(50, "c", "C (GCC {version})"),
    Judge0Language(52, "cpp", "C++ (GCC {version})"),
    Judge0Language(53, "cpp", "C++ (GCC {version})"),
    Judge0Language(54, "cpp", "C++ (GCC {version})"),
    Judge0Language(60, "go", "Go ({version})"),
    Judge0Language(62, "java", "Java (OpenJDK {version})"),
    Judge0Language(63, "javascript", "JavaScript (Node.js {version})"),
    Judge0Language(71, "python", "Python ({version})"),
    Judge0Language(PYTHON_SCI_ID, "python-sci", "Python for ML ({version})"),
    Judge0Language(73, "rust", "Rust ({version})"),
)

BY_ID = {lang.id: lang for lang in LANGUAGES}

#: The id a runtime's jobs report as their language_id (the newest of its ids).
PRIMARY_ID = {lang.runtime: lang.id for lang in LANGUAGES}

_NUMBER = re.compile(r"\d+(?:\.\d+)+")


def version_number(version: str) -> str:
    """The dotted version in a probed version string: "CPython 3.11.2" -> "3.11.2"."""
    found = _NUMBER.search(version)
    return found.group(0) if found else version


def offered(languages: list[LanguageInfo]) -> list[tuple[Judge0Language, str]]:
    """The Judge0 languages the live workers can run, each with its version number."""
    versions = {info.id: version_number(info.version) for info in languages}
    return [(lang, versions[lang.runtime]) for lang in LANGUAGES if lang.runtime in versions]


def spec_of(runtime: str) -> RuntimeSpec | None:
    """The shipped runtime entry (file name, commands) behind a Judge0 language."""
    return catalogue_spec(runtime)

"""Piston's names for OnPyRunner's runtimes, and Piston's version selectors.

Clients name a language by Piston's name or one of its aliases (as Piston's own packages
declare them) and a version: a SemVer selector (`*`, `3.x`, `3.11`, `^3.10`, `>=3.8 <4`,
`a || b`) or an exact version. A runtime's version is the dotted number its worker probed
("CPython 3.11.2" -> "3.11.2", padded to three parts). A selector this server's version does
not satisfy (a pin of another version, say) is served by the installed version of the
language, which the answer names, unless the setting piston_strict_versions asks for
Piston's own answer: "<language>-<version> runtime is unknown".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from onpyrunner.languages.catalogue import spec_of
from onpyrunner.queue.store import LanguageInfo


@dataclass(frozen=True)
class PistonLanguage:
    """One Piston language and the OnPyRunner runtime behind it."""

    runtime: str  # OnPyRunner's runtime id
    language: str  # Piston's name
    aliases: tuple[str, ...]
    piston_runtime: str | None = None  # Piston's "runtime" field (the package behind it)

    @property
    def compiled(self) -> bool:
        spec = spec_of(self.runtime)
        return spec is not None and spec.compile is not None


#: Ordered as GET /runtimes lists them.
LANGUAGES: tuple[PistonLanguage, ...] = (
    PistonLanguage("bash", "bash", ("sh",)),
    PistonLanguage("c", "c", ("gcc",), "gcc"),
    PistonLanguage("cpp", "c++", ("cpp", "g++"), "gcc"),
    PistonLanguage("go", "go", ("go", "golang")),
    PistonLanguage("java", "java", ()),
    PistonLanguage("javascript", "javascript", ("node-javascript", "node-js", "js"), "node"),
    PistonLanguage("python", "python", ("py", "py3", "python3")),
    # Piston has no such package: OnPyRunner's own name (docs/piston.md)
    PistonLanguage("python-sci", "python-sci", ("py-sci",)),
    PistonLanguage("pypy", "pypy", ("pypy3",)),
    PistonLanguage("rust", "rust", ("rs",)),
)

BY_NAME = {
    name: lang for lang in LANGUAGES for name in (lang.language, *lang.aliases, lang.runtime)
}
BY_RUNTIME = {lang.runtime: lang for lang in LANGUAGES}

_NUMBER = re.compile(r"\d+(?:\.\d+)*")


def semver(probed: str) -> str:
    """The version of a probed version string, in three parts: "OpenJDK 17" -> "17.0.0"."""
    found = _NUMBER.search(probed)
    parts = found.group(0).split(".") if found else ["0"]
    return ".".join((parts + ["0", "0"])[:3])


def offered(languages: list[LanguageInfo]) -> list[tuple[PistonLanguage, str]]:
    """The Piston languages the live workers can run, each with its version."""
    versions = {info.id: semver(info.version) for info in languages}
    return [(lang, versions[lang.runtime]) for lang in LANGUAGES if lang.runtime in versions]


def _key(version: str) -> tuple[int, int, int]:
    parts = [int(p) for p in version.split(".")[:3]]
    major, minor, patch = (parts + [0, 0])[:3]
    return major, minor, patch


_PARTIAL = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$")


def _bounds(op: str, partial: str) -> list[tuple[str, tuple[int, int, int]]] | None:
    """A comparator (op and a partial version) as (op, version) checks; None when it is
    not one."""
    found = _PARTIAL.match(partial)
    if found is None:
        return None
    given = [p for p in found.groups() if p is not None and p not in ("x", "X", "*")]
    numbers = [int(p) for p in given]
    full = tuple((numbers + [0, 0, 0])[:3])
    low: tuple[int, int, int] = (full[0], full[1], full[2])
    if not numbers:
        return [] if op in ("", "=", ">=", "<=", "^", "~") else None
    # The first version past the range the given parts name (3 -> 4.0.0, 3.11 -> 3.12.0).
    head = numbers[:-1] + [numbers[-1] + 1]
    high = (tuple((head + [0, 0, 0])[:3])) if len(numbers) < 3 else None
    if op in ("", "="):
        if high is None:
            return [("==", low)]
        return [(">=", low), ("<", (high[0], high[1], high[2]))]
    if op == "^":
        cut = next((i for i, n in enumerate(numbers) if n != 0), len(numbers) - 1)
        up = numbers[: cut + 1]
        up[-1] += 1
        upper = tuple((up + [0, 0, 0])[:3])
        return [(">=", low), ("<", (upper[0], upper[1], upper[2]))]
    if op == "~":
        up = numbers[:2] if len(numbers) >= 2 else numbers[:1]
        up[-1] += 1
        upper = tuple((up + [0, 0, 0])[:3])
        return [(">=", low), ("<", (upper[0], upper[1], upper[2]))]
    if op in (">", "<=") and high is not None:
        return [(">=" if op == ">" else "<", (high[0], high[1], high[2]))]
    return [(op, low)]


_COMPARATOR = re.compile(r"(\^|~|>=|<=|>|<|=)?\s*([^\s<>=^~][^\s]*)")


def satisfies(version: str, selector: str) -> bool | None:
    """Whether version satisfies a SemVer range selector; None when the selector is not
    one."""
    have = _key(version)
    ranges = selector.strip().split("||")
    any_valid = False
    for part in ranges:
        part = part.strip()
        if part in ("", "*", "x", "X", "latest"):
            return True
        hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", part)
        comparators = (
            [(">=", hyphen.group(1)), ("<=", hyphen.group(2))]
            if hyphen
            else [(m.group(1) or "", m.group(2)) for m in _COMPARATOR.finditer(part)]
        )
        checks: list[tuple[str, tuple[int, int, int]]] = []
        valid = True
        for op, partial in comparators:
            bounds = _bounds(op, partial)
            if bounds is None:
                valid = False
                break
            checks += bounds
        if not valid:
            continue
        any_valid = True
        if all(_compare(have, op, bound) for op, bound in checks):
            return True
    return False if any_valid else None


def _compare(have: tuple[int, int, int], op: str, bound: tuple[int, int, int]) -> bool:
    return {
        "==": have == bound,
        ">=": have >= bound,
        "<=": have <= bound,
        ">": have > bound,
        "<": have < bound,
    }[op]

"""Every shipped language, through the real sandbox: hello, stdin, runtime error, TLE, MLE,
compile error (compiled languages), a two-case judge job; and the compile cache."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import pytest

from onpyrunner.judge.run import judge
from onpyrunner.languages.catalogue import shipped_specs
from onpyrunner.limits import Limits
from onpyrunner.models import JobRequest, Outcome, Progress, TestCase, Verdict
from onpyrunner.sandbox.pool import Sandbox
from tests.toolchains import need

pytestmark = pytest.mark.sandbox


@dataclass(frozen=True)
class Programs:
    hello: str
    runtime_error: str
    busy_loop: str
    memory_hog: str
    compile_error: str | None = None


PY = Programs(
    hello="print('hello, world')\n",
    runtime_error="raise ValueError('boom')\n",
    busy_loop="while True:\n    pass\n",
    memory_hog="a = []\nwhile True:\n    a.append(bytearray(1 << 20))\n",
)
C_HOG = (
    "#include <stdlib.h>\n#include <string.h>\n"
    "int main(void) { for (;;) { char *p = malloc(1 << 20); memset(p, 1, 1 << 20); } }\n"
)
PROGRAMS = {
    "python": PY,
    "pypy": PY,
    "python-sci": PY,
    "c": Programs(
        hello='#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n',
        runtime_error="int main(void) { return 3; }\n",
        busy_loop="int main(void) { volatile unsigned long x = 0; for (;;) x++; }\n",
        memory_hog=C_HOG,
        compile_error="int main(void) { return undeclared_name; }\n",
    ),
    "cpp": Programs(
        hello='#include <iostream>\nint main() { std::cout << "hello, world" << std::endl; }\n',
        runtime_error='#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n',
        busy_loop="int main() { volatile unsigned long x = 0; for (;;) x++; }\n",
        memory_hog="#include <vector>\nint main() { std::vector<std::vector<char>> v;"
        " for (;;) v.emplace_back(1 << 20, 1); }\n",
        compile_error="int main() { std::string s; }\n",
    ),
    "javascript": Programs(
        hello="console.log('hello, world');\n",
        runtime_error="throw new Error('boom');\n",
        busy_loop="while (true) {}\n",
        memory_hog="const a = []; while (true) a.push(new Array(1 << 20).fill(1));\n",
    ),
    "java": Programs(
        hello="public class Main { public static void main(String[] a) {"
        ' System.out.println("hello, world"); } }\n',
        runtime_error="public class Main { public static void main(String[] a) {"
        ' throw new RuntimeException("boom"); } }\n',
        busy_loop="public class Main { public static void main(String[] a) { while (true) {} } }\n",
        memory_hog="import java.util.*;\npublic class Main { public static void main(String[] a) {"
        " List<long[]> l = new ArrayList<>(); while (true) l.add(new long[1 << 17]); } }\n",
        compile_error="public class Main { public static void main(String[] a) { int x = } }\n",
    ),
    "rust": Programs(
        hello='fn main() { println!("hello, world"); }\n',
        runtime_error='fn main() { panic!("boom"); }\n',
        busy_loop="fn main() { let mut x: u64 = 1; loop { x = x.wrapping_mul(3);"
        ' if x == 0 { println!("{}", x); } } }\n',
        memory_hog="fn main() { let mut v = Vec::new(); loop { v.push(vec![1u8; 1 << 20]); } }\n",
        compile_error='fn main() { let x: i32 = "text"; }\n',
    ),
    "go": Programs(
        hello='package main\nimport "fmt"\nfunc main() { fmt.Println("hello, world") }\n',
        runtime_error='package main\nfunc main() { panic("boom") }\n',
        busy_loop="package main\nfunc main() { x := 0; for { x++ } }\n",
        memory_hog="package main\nfunc main() { var a [][]byte\n for { b := make([]byte, 1<<20)\n"
        " for i := range b { b[i] = 1 }\n a = append(a, b) } }\n",
        compile_error='package main\nimport "fmt"\nfunc main() { x := 1 }\n',
    ),
    "bash": Programs(
        hello="echo 'hello, world'\n",
        runtime_error="echo boom >&2\nexit 3\n",
        busy_loop="while :; do :; done\n",
        memory_hog='s=xxxxxxxxxxxxxxxx\nwhile :; do s="$s$s"; done\n',
    ),
}
LIMITS = Limits(cpu_time_ms=3000, wall_time_ms=10000, memory_mb=128)


def test_every_shipped_language_has_programs_here() -> None:
    assert {s.id for s in shipped_specs()} == set(PROGRAMS)


LANGUAGES = sorted(PROGRAMS)


@pytest.mark.parametrize("rid", LANGUAGES)
async def test_hello_world(sandbox: Sandbox, rid: str) -> None:
    need(sandbox, rid)
    result = await sandbox.run(rid, PROGRAMS[rid].hello.encode(), b"", LIMITS)
    assert result.outcome is Outcome.SUCCESS, (rid, result)
    assert result.stdout == "hello, world\n", rid


@pytest.mark.parametrize("rid", LANGUAGES)
async def test_reading_stdin(sandbox: Sandbox, rid: str) -> None:
    need(sandbox, rid)
    test = sandbox.runtime(rid).spec.self_test
    result = await sandbox.run(rid, test.source.encode(), b"40 2\n", LIMITS)
    assert result.outcome is Outcome.SUCCESS, (rid, result)
    assert result.stdout == "42\n", rid


@pytest.mark.parametrize("rid", LANGUAGES)
async def test_runtime_error(sandbox: Sandbox, rid: str) -> None:
    need(sandbox, rid)
    result = await sandbox.run(rid, PROGRAMS[rid].runtime_error.encode(), b"", LIMITS)
    assert result.outcome is Outcome.RUNTIME_ERROR, (rid, result)
    assert result.exit_code != 0 or result.signal is not None


@pytest.mark.parametrize("rid", LANGUAGES)
async def test_time_limit(sandbox: Sandbox, rid: str) -> None:
    need(sandbox, rid)
    limits = LIMITS.model_copy(update={"cpu_time_ms": 1000})
    result = await sandbox.run(rid, PROGRAMS[rid].busy_loop.encode(), b"", limits)
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED, (rid, result)


@pytest.mark.timing  # under emulation a hog may spend its CPU limit before its memory
@pytest.mark.parametrize("rid", LANGUAGES)
async def test_memory_limit(sandbox: Sandbox, rid: str) -> None:
    need(sandbox, rid)
    result = await sandbox.run(rid, PROGRAMS[rid].memory_hog.encode(), b"", LIMITS)
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED, (rid, result)


@pytest.mark.parametrize("rid", [rid for rid in LANGUAGES if PROGRAMS[rid].compile_error])
async def test_compile_error_carries_the_compilers_message(sandbox: Sandbox, rid: str) -> None:
    need(sandbox, rid)
    source = PROGRAMS[rid].compile_error
    assert source is not None, rid
    result = await sandbox.run(rid, source.encode(), b"", LIMITS)
    assert result.outcome is Outcome.COMPILE_ERROR, (rid, result)
    file_name, _ = sandbox.runtime(rid).source_name(source)
    assert result.compile_output and f"{file_name}:" in result.compile_output, rid
    assert result.stdout == "" and result.stderr == ""


@pytest.mark.parametrize("rid", LANGUAGES)
async def test_judge_job_with_two_cases(sandbox: Sandbox, rid: str) -> None:
    need(sandbox, rid)

    async def ignore(_: Progress) -> None:
        return None

    test = sandbox.runtime(rid).spec.self_test
    request = JobRequest(
        language=rid,
        source_code=test.source,
        limits=LIMITS,
        test_cases=[
            TestCase(stdin="1 2\n", expected_stdout="3\n"),
            TestCase(stdin="2 2\n", expected_stdout="5\n"),
        ],
    )
    result = await judge(request, sandbox, ignore)
    assert [t.verdict for t in result.tests] == [Verdict.ACCEPTED, Verdict.WRONG_ANSWER], rid
    assert result.verdict is Verdict.WRONG_ANSWER


async def test_judge_job_of_a_program_that_does_not_compile(sandbox: Sandbox) -> None:
    need(sandbox, "c")

    async def ignore(_: Progress) -> None:
        return None

    source = PROGRAMS["c"].compile_error or ""
    request = JobRequest(
        language="c",
        source_code=source,
        limits=LIMITS,
        test_cases=[TestCase(expected_stdout="")] * 3,
    )
    result = await judge(request, sandbox, ignore)
    assert result.verdict is Verdict.COMPILE_ERROR
    assert [t.verdict for t in result.tests] == [Verdict.SKIPPED] * 3
    assert result.compile_output and "undeclared_name" in result.compile_output


async def test_java_class_may_have_any_public_name(sandbox: Sandbox) -> None:
    need(sandbox, "java")
    source = (
        "public class Solution { public static void main(String[] a) {"
        ' System.out.println("named"); } }\n'
    )
    result = await sandbox.run("java", source.encode(), b"", LIMITS)
    assert result.outcome is Outcome.SUCCESS, result
    assert result.stdout == "named\n"


async def test_compile_cache_is_hit_the_second_time(sandbox: Sandbox) -> None:
    need(sandbox, "c")
    source = f'#include <stdio.h>\nint main(void) {{ puts("{os.urandom(8).hex()}"); }}\n'
    before = dict(sandbox.compile_stats)
    first = await sandbox.prepare("c", source.encode())
    second = await sandbox.prepare("c", source.encode())
    assert not first.cached and second.cached
    assert sandbox.compile_stats["miss"] == before["miss"] + 1
    assert sandbox.compile_stats["hit"] == before["hit"] + 1
    assert first.links == second.links
    assert set(first.links) == {"main"}
    assert first.compile_ms is not None


async def test_same_source_compiled_by_two_jobs_at_once_is_compiled_once(
    sandbox: Sandbox,
) -> None:
    need(sandbox, "c")
    source = f'#include <stdio.h>\nint main(void) {{ puts("{os.urandom(8).hex()}"); }}\n'
    before = dict(sandbox.compile_stats)
    results = await asyncio.gather(
        *(sandbox.run("c", source.encode(), b"", LIMITS) for _ in range(4))
    )
    assert {r.stdout for r in results} == {source.split('"')[1] + "\n"}
    assert sandbox.compile_stats["miss"] == before["miss"] + 1
    assert sandbox.compile_stats["hit"] == before["hit"] + 3


#: A C++ program whose compile takes far longer than 50 ms anywhere (every standard header).
SLOW_CPP = '#include <bits/stdc++.h>\nint main() {{ std::cout << "{token}\\n"; }}\n'


async def test_a_compile_stopped_by_a_requests_shorter_limit_is_never_served_to_another(
    sandbox: Sandbox,
) -> None:
    need(sandbox, "cpp")
    token = os.urandom(8).hex()
    source = SLOW_CPP.format(token=token).encode()
    short = sandbox.limits.compile.model_copy(update={"wall_time_ms": 50, "cpu_time_ms": 50})
    # at once: the short compile may take the compile lock first, or second
    stopped, full = await asyncio.gather(
        sandbox.prepare("cpp", source, compile_limits=short), sandbox.prepare("cpp", source)
    )
    assert stopped.compile_error is not None, stopped
    output = stopped.compile_error.compile_output or ""
    assert output.startswith("compilation stopped: over its time limit (50 ms CPU, 50 ms wall)")
    assert full.compile_error is None, full.compile_error
    assert full.compile_ms is not None and full.compile_ms > 50
    result = await sandbox.run_prepared(full, b"", LIMITS)
    assert result.stdout == f"{token}\n"
    assert result.compile_time_ms == full.compile_ms
    # the compile that succeeded is cached: the short limit now gets the program, in 0 ms
    again = await sandbox.prepare("cpp", source, compile_limits=short)
    assert again.cached and again.compile_ms == 0 and again.compile_error is None
    assert (await sandbox.run_prepared(again, b"", LIMITS)).compile_time_ms == 0


async def test_an_interpreted_program_has_no_compile_time(sandbox: Sandbox) -> None:
    result = await sandbox.run("python", b"print(1)\n", b"", LIMITS)
    assert result.outcome is Outcome.SUCCESS and result.compile_time_ms is None


async def test_compile_cache_cannot_be_poisoned_across_sources(sandbox: Sandbox) -> None:
    need(sandbox, "c")
    token = os.urandom(4).hex()
    one = f'#include <stdio.h>\nint main(void) {{ puts("one {token}"); }}\n'
    two = f'#include <stdio.h>\nint main(void) {{ puts("two {token}"); }}\n'
    assert (await sandbox.run("c", one.encode(), b"", LIMITS)).stdout == f"one {token}\n"
    assert (await sandbox.run("c", two.encode(), b"", LIMITS)).stdout == f"two {token}\n"
    assert (await sandbox.run("c", one.encode(), b"", LIMITS)).stdout == f"one {token}\n"
    # The same text in another language is another key (C++ compiles it on its own).
    need(sandbox, "cpp")
    as_cpp = await sandbox.prepare("cpp", one.encode())
    assert not as_cpp.cached

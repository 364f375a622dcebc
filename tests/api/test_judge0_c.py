"""Judge0 SDK tests that need the C and C++ runtimes (issue 6, landing in another branch).

Not collected yet (pytest collects test_*.py only): once `c` and `cpp` are in
runtimes.toml, rename this file to test_judge0_c.py. It is type-checked and linted as is.
"""

from __future__ import annotations

import judge0
import pytest

from tests.service import Server

pytestmark = pytest.mark.sandbox


def sdk_client(api: Server) -> judge0.Client:
    return judge0.Client(f"{api.url}/judge0", retry_strategy=judge0.MaxWaitTime(120))


def test_c_and_cpp_are_listed_under_judge0_ids(api: Server) -> None:
    ids = {lang["id"]: lang["name"] for lang in api.http.get("/judge0/languages").json()}
    assert ids[50].startswith("C (GCC ")
    assert ids[54].startswith("C++ (GCC ")
    assert ids[52] == ids[54]  # the SDK's judge0.CPP resolves to 52


def test_sdk_compile_error_for_c(api: Server) -> None:
    client = sdk_client(api)
    result = judge0.run(client=client, source_code="int main( {\n", language=50)
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.COMPILATION_ERROR
    assert result.compile_output is not None and "error" in result.compile_output
    assert result.stdout is None


def test_sdk_runs_c_with_stdin(api: Server) -> None:
    client = sdk_client(api)
    source = '#include <stdio.h>\nint main(void){int a;scanf("%d",&a);printf("%d\\n",a*2);}\n'
    result = judge0.run(client=client, source_code=source, language=judge0.C, stdin="21\n")
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.ACCEPTED
    assert result.stdout == "42\n"


def test_sdk_cpp_alias_and_a_segfault(api: Server) -> None:
    client = sdk_client(api)
    source = "int main() { volatile int *p = nullptr; return *p; }\n"
    result = judge0.run(client=client, source_code=source, language=judge0.CPP)
    assert isinstance(result, judge0.Submission)
    assert result.status == judge0.Status.RUNTIME_ERROR_SIGSEGV

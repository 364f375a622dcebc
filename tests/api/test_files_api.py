"""Files beside the program, its arguments, compiler options and output files given back,
through the real API and the real sandbox, on both backends; and every refusal naming its
path or option."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.service import Server

pytestmark = pytest.mark.sandbox

PROGRAM = """\
import os, sys
print(sys.argv[1:])
print(open('data/in.txt').read())
print(list(open('blob.bin', 'rb').read()))
open('out.txt', 'w').write('made by the program')
os.symlink('/etc/passwd', 'link.txt')
os.makedirs('adir/deeper')
open('big.bin', 'wb').write(b'x' * (2 << 20))
"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_files_args_and_fetch_files_round_trip(api: Server) -> None:
    job = api.run(
        {
            "source_code": PROGRAM,
            "files": {
                "data/in.txt": {"content": "héllo"},
                "blob.bin": {"content": b64(b"\x00\x01\xff"), "encoding": "base64"},
            },
            "args": ["one", "two words"],
            "fetch_files": ["out.txt", "link.txt", "adir", "big.bin", "missing.txt"],
            "limits": {"max_file_kb": 4096},
        }
    )
    result = job["result"]
    assert result["outcome"] == "SUCCESS", result
    assert result["stdout"] == "['one', 'two words']\nhéllo\n[0, 1, 255]\n"
    # only regular files within max_fetch_file_kb: no link, no directory, nothing larger
    assert result["files"] == {"out.txt": b64(b"made by the program")}
    plain = api.run({"source_code": "print(1)"})["result"]
    assert "files" not in plain


def test_a_header_in_files_is_compiled_with_the_source(api: Server) -> None:
    source = (
        '#include "lib/twice.h"\n#include <cstdio>\n'
        'int main(int c, char** v) { printf("%d %s\\n", twice(VALUE), v[1]); }\n'
    )
    header = "inline int twice(int x) { return 2 * x; }\n"
    job = api.run(
        {
            "language": "cpp",
            "source_code": source,
            "files": {"lib/twice.h": {"content": header}},
            "compiler_options": ["-DVALUE=21", "-O1", "-std=c++17"],
            "args": ["arg"],
        }
    )
    assert job["result"]["outcome"] == "SUCCESS", job["result"]
    assert job["result"]["stdout"] == "42 arg\n"


def test_a_file_named_as_the_compiled_program_does_not_replace_it(api: Server) -> None:
    source = '#include <cstdio>\nint main() { puts("compiled"); }\n'
    files = {"main": {"content": "#!/bin/sh\necho planted\n"}}
    job = api.run({"language": "cpp", "source_code": source, "files": files})
    assert job["status"] == "COMPLETED" and job["result"]["stdout"] == "compiled\n", job


def test_a_judge_job_runs_every_case_with_the_files_and_args(api: Server) -> None:
    source = "import sys\nprint(open('k.txt').read().strip() * int(input()), sys.argv[1])"
    job = api.run(
        {
            "source_code": source,
            "files": {"k.txt": {"content": "ab\n"}},
            "args": ["z"],
            "test_cases": [
                {"stdin": "1\n", "expected_stdout": "ab z\n"},
                {"stdin": "2\n", "expected_stdout": "abab z\n"},
            ],
        }
    )
    assert job["result"]["verdict"] == "ACCEPTED", job["result"]


def test_the_languages_say_their_compiler_options(api: Server) -> None:
    languages = {lang["id"]: lang for lang in api.http.get("/languages").json()}
    assert languages["python"]["compiler_options"] == []
    assert any("-std=" in pattern for pattern in languages["cpp"]["compiler_options"])


def refused(api: Server, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = api.submit({"source_code": "print(1)", **body})
    assert response.status_code == 422, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    return detail


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("../up.txt", "'..'"),
        ("a/../../b", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a//b", "normalised"),
        ("./a", "normalised"),
        ("a/", "normalised"),
        ("", "empty"),
        (".onpyrunner/x", "keeps"),
        ("main.py/x", "'main.py', which is a file"),
        ("x" * 300, "longer than 255 bytes"),
    ],
)
def test_a_bad_path_is_refused_naming_it(api: Server, path: str, words: str) -> None:
    detail = refused(api, {"files": {path: {"content": "x"}}})
    assert detail[0]["loc"] == ["body", "files", path]
    assert words in detail[0]["msg"]


def test_file_refusals_name_what_is_wrong(api: Server) -> None:
    detail = refused(api, {"files": {"a": {"content": "x"}, "a/b": {"content": "y"}}})
    assert detail[0]["loc"] == ["body", "files", "a/b"]
    detail = refused(api, {"files": {"f": {"content": "%%%", "encoding": "base64"}}})
    assert detail[0]["loc"] == ["body", "files", "f", "content"]
    detail = refused(api, {"files": {"f": {"content": "x", "encoding": "hex"}}})
    assert detail[0]["loc"][:3] == ["body", "files", "f"]
    many = {f"f{i}": {"content": ""} for i in range(101)}
    assert refused(api, {"files": many})[0]["loc"] == ["body", "files"]
    large = {"f": {"content": "x" * (4 << 20)}, "g": {"content": "y"}}
    detail = refused(api, {"files": large})
    assert detail[0]["loc"] == ["body", "files"] and "server maximum" in detail[0]["msg"]
    detail = refused(api, {"fetch_files": ["../x"]})
    assert detail[0]["loc"] == ["body", "fetch_files", 0]
    case = [{"stdin": "", "expected_stdout": "1\n"}]
    detail = refused(api, {"fetch_files": ["x"], "test_cases": case})
    assert detail[0]["loc"] == ["body", "fetch_files"]
    assert refused(api, {"fetch_files": [f"f{i}" for i in range(17)]})[0]["loc"] == [
        "body",
        "fetch_files",
    ]


def test_compiler_options_outside_the_allow_list_are_refused(api: Server) -> None:
    detail = refused(api, {"language": "cpp", "compiler_options": ["-O2", "-fplugin=/x.so"]})
    assert detail[0]["loc"] == ["body", "compiler_options", 1]
    assert "'-fplugin=/x.so' is not allowed for cpp" in detail[0]["msg"]
    detail = refused(api, {"compiler_options": ["-O2"]})
    assert detail[0]["loc"] == ["body", "compiler_options"]
    assert "python takes no compiler options" in detail[0]["msg"]
    for hostile in ("-o/etc/x", "-B/tmp", "@/etc/passwd", "-wrapper", "-specs=x"):
        assert refused(api, {"language": "c", "compiler_options": [hostile]})

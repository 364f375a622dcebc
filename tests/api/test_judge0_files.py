"""Judge0's additional_files (a base64 zip), command_line_arguments and compiler_options,
through the real API and the real sandbox on both backends; and the archives refused: paths
that escape, links, too many files, a zip bomb."""

from __future__ import annotations

import base64
import io
import stat
import zipfile
from typing import Any

import pytest

from tests.service import Server

pytestmark = pytest.mark.sandbox


def archive(entries: dict[str, bytes], links: dict[str, str] | None = None) -> str:
    """A base64 zip of the entries (and of symbolic links, name -> target)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return base64.b64encode(buffer.getvalue()).decode()


def submit(api: Server, body: dict[str, Any], **params: str) -> Any:
    return api.http.post(
        "/judge0/submissions",
        json={"language_id": 71, **body},
        params={"wait": "true", "fields": "*", **params},
    )


def test_additional_files_and_arguments_reach_a_python_program(api: Server) -> None:
    files = archive({"data/in.txt": b"hello", "empty/": b""})
    source = "import sys\nprint(open('data/in.txt').read(), sys.argv[1:])"
    response = submit(
        api,
        {"source_code": source, "additional_files": files, "command_line_arguments": "a 'b c'"},
    )
    assert response.status_code == 201, response.text
    got = response.json()
    assert got["status"]["description"] == "Accepted", got
    assert got["stdout"] == "hello ['a', 'b c']\n"
    assert got["additional_files"] == files and got["command_line_arguments"] == "a 'b c'"


def test_a_cpp_header_and_compiler_options(api: Server) -> None:
    files = archive({"twice.h": b"inline int twice(int x) { return 2 * x; }\n"})
    source = '#include "twice.h"\n#include <cstdio>\nint main() { printf("%d\\n", twice(N)); }\n'
    response = submit(
        api,
        {
            "language_id": 54,
            "source_code": source,
            "additional_files": files,
            "compiler_options": "-DN=21 -O1",
        },
    )
    assert response.status_code == 201, response.text
    got = response.json()
    assert got["stdout"] == "42\n", got
    assert got["compiler_options"] == "-DN=21 -O1"
    refused = submit(api, {"language_id": 54, "source_code": source, "compiler_options": "-B/x"})
    assert refused.status_code == 422
    assert "'-B/x' is not allowed for cpp" in refused.json()["compiler_options"][0]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        (archive({"../escape.txt": b"x"}), "'..'"),
        (archive({"/etc/cron.d/x": b"x"}), "absolute"),
        (archive({"a/./b": b"x"}), "normalised"),
        (archive({}, links={"link": "/etc/passwd"}), "symbolic link"),
        (archive({f"f{i}": b"" for i in range(101)}), "more than 100 files"),
        (archive({"zeros": bytes(5 << 20)}), "unpacks to more than 4194304 bytes"),
        (base64.b64encode(b"not a zip").decode(), "is not a zip archive"),
        ("%%%", "is not valid base64"),
    ],
)
def test_archives_that_escape_or_overflow_are_refused(api: Server, files: str, words: str) -> None:
    response = submit(api, {"source_code": "print(1)", "additional_files": files})
    assert response.status_code == 422, response.text
    problems = response.json()["additional_files"]
    assert words in problems[0]


def test_config_info_says_the_options_are_on(api: Server) -> None:
    info = api.http.get("/judge0/config_info").json()
    assert info["enable_compiler_options"] and info["enable_command_line_arguments"]
    assert info["enable_additional_files"]

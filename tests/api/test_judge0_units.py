"""The Judge0 layer's pure parts: Ruby's base64, the address check, statuses, numbers."""

from __future__ import annotations

import ipaddress

import pytest
from fastapi.exceptions import RequestValidationError

from onpyrunner.api.compat.judge0 import openapi
from onpyrunner.api.compat.judge0.callbacks import CallbackURLError, check_url, is_public
from onpyrunner.api.compat.judge0.encoding import Base64Error, decode64, encode64
from onpyrunner.api.compat.judge0.languages import (
    BY_ID,
    LANGUAGES,
    PRIMARY_ID,
    PYTHON_SCI_ID,
    offered,
    version_number,
)
from onpyrunner.api.compat.judge0.routes import _echo, _problems_of
from onpyrunner.api.compat.judge0.schemas import (
    FIELDS,
    FieldsError,
    SubmissionIn,
    parse_submission,
    requested_fields,
    seconds,
)
from onpyrunner.api.errors import field_error
from onpyrunner.limits import LimitsError, LimitTable
from onpyrunner.queue.store import LanguageInfo


def test_encode64_is_rubys_base64_encode64() -> None:
    # Values of Ruby's Base64.encode64 (the first as Judge0 answers "hello 123\n").
    assert encode64("hello 123\n") == "aGVsbG8gMTIzCg==\n"
    assert encode64("") == ""
    assert encode64("a" * 45) == "YWFh" * 15 + "\n"
    long = encode64("a" * 46)
    assert long == "YWFh" * 15 + "\nYQ==\n"
    assert [len(line) for line in encode64("x" * 200).split("\n")] == [60, 60, 60, 60, 28, 0]


def test_decode64_takes_line_breaks_and_missing_padding() -> None:
    assert decode64("aGVsbG8g\nMTIzCg==\n") == "hello 123\n"
    assert decode64("aGVsbG8gMTIzCg") == "hello 123\n"
    assert decode64(encode64("é" * 100)) == "é" * 100
    for bad in ("a", "aGVsbG8*", "print(1)", "éé", "aGVs\u00a0bG8é"):
        with pytest.raises(Base64Error):
            decode64(bad)
    with pytest.raises(Base64Error, match="UTF-8"):
        decode64("//79")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_only_public_addresses_may_be_called_back(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/",
        "http://192.168.0.1:8080/x",
        "https://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
    ],
)
async def test_private_and_metadata_callback_urls_are_refused(url: str) -> None:
    # IP literals: resolving them sends nothing anywhere.
    with pytest.raises(CallbackURLError, match="internal address"):
        await check_url(url, allow_internal=False)
    assert (await check_url(url, allow_internal=True)).host


def test_fields_are_checked_and_ordered() -> None:
    assert requested_fields("status, stdout") == ("stdout", "status")
    assert len(requested_fields("*")) == 35
    assert requested_fields(None)[0] == "stdout"
    with pytest.raises(FieldsError, match=r"invalid fields: \[a, b\]"):
        requested_fields("a,stdout,b")


def test_seconds_print_like_a_rails_decimal() -> None:
    assert [seconds(ms) for ms in (2000, 1500, 14, 1, 0, 12345)] == [
        "2.0",
        "1.5",
        "0.014",
        "0.001",
        "0.0",
        "12.345",
    ]
    assert seconds(None) is None


def test_language_names_take_the_probed_version() -> None:
    assert version_number("CPython 3.11.2") == "3.11.2"
    assert version_number("gcc (Debian 12.2.0-14) 12.2.0") == "12.2.0"
    python = next(lang for lang in LANGUAGES if lang.id == 71)
    assert python.display_name("3.11.2") == "Python (3.11.2)"
    assert python.display_name(None) == "Python"
    assert len({lang.id for lang in LANGUAGES}) == len(LANGUAGES)


def test_python_sci_has_an_id_of_its_own_offered_only_with_its_runtime() -> None:
    sci = BY_ID[PYTHON_SCI_ID]
    assert sci.runtime == "python-sci" and PRIMARY_ID["python-sci"] == PYTHON_SCI_ID
    assert sci.display_name("3.11.2") == "Python for ML (3.11.2)"
    assert sci.display_name(None) not in {
        lang.display_name(None) for lang in LANGUAGES if lang.runtime != "python-sci"
    }
    python = LanguageInfo("python", "Python 3", "CPython 3.11.2")
    with_sci = LanguageInfo("python-sci", "Python 3 with scientific packages", "CPython 3.11.2")
    assert PYTHON_SCI_ID not in [lang.id for lang, _ in offered([python])]
    assert (sci, "3.11.2") in offered([python, with_sci])
    sub, problems = parse_submission(
        {"source_code": "import numpy", "language_id": PYTHON_SCI_ID},
        base64=False,
        runtimes=frozenset({"python", "python-sci"}),
        stack_kb=65536,
    )
    assert problems == {} and sub is not None and sub.language is sci
    _, problems = _parse({"source_code": "import numpy", "language_id": PYTHON_SCI_ID})
    assert problems == {"language_id": [f"language with id {PYTHON_SCI_ID} doesn't exist"]}


# --- the translation to and from the native job (pure functions) -----------------------


def _parse(data: object) -> tuple[SubmissionIn | None, dict[str, list[str]]]:
    return parse_submission(data, base64=False, runtimes=frozenset({"python"}), stack_kb=65536)


def test_a_submission_becomes_native_units() -> None:
    sub, problems = _parse(
        {
            "source_code": "print(1)",
            "language_id": "71",
            "cpu_time_limit": 1.5,
            "wall_time_limit": "3",
            "memory_limit": 100_000,
            "max_processes_and_or_threads": 8,
            "max_file_size": 2048,
        }
    )
    assert problems == {}
    assert sub is not None
    assert sub.limits == {
        "cpu_time_ms": 1500,
        "wall_time_ms": 3000,
        "memory_mb": 98,  # 100,000 KB, rounded up to whole MiB
        "max_processes": 8,
        "max_file_kb": 2048,
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cpu_time_limit", 0, "must be greater than 0"),
        ("cpu_time_limit", "fast", "is not a number"),
        ("memory_limit", 10**400, "is out of range"),
        ("stack_limit", 65537, "must be less than or equal to 65536"),
        ("number_of_runs", 3, "must be less than or equal to 1"),
        ("enable_network", True, "this option cannot be enabled"),
    ],
)
def test_a_field_judge0_would_refuse_is_named_in_its_shape(
    field: str, value: object, message: str
) -> None:
    sub, problems = _parse({"source_code": "print(1)", "language_id": 71, field: value})
    assert sub is None
    assert message in " ".join(problems[field])


def test_native_limit_problems_come_back_in_judge0_names_and_units() -> None:
    table = LimitTable.shipped()
    try:
        table.resolve({"cpu_time_ms": 20_000, "memory_mb": 4096, "max_file_kb": 10**6})
    except LimitsError as e:
        errors = [
            field_error(("body", "limits", p.name), p.message, p.kind, {"le": p.bound})
            for p in e.problems
        ]
    assert _problems_of(RequestValidationError(errors)) == {
        "cpu_time_limit": ["must be less than or equal to 15"],
        "memory_limit": ["must be less than or equal to 1048576"],
        "max_file_size": ["must be less than or equal to 16384"],
    }


def test_what_judge0_answers_back_travels_as_the_jobs_origin() -> None:
    sub, _ = _parse(
        {"source_code": "print(input())", "language_id": 71, "stdin": "x", "expected_output": "x"}
    )
    assert sub is not None
    assert _echo(sub) == {
        "source_code": "print(input())",
        "language_id": "71",
        "stdin": "x",
        "expected_output": "x",
    }


def test_the_openapi_schema_describes_every_attribute() -> None:
    assert list(openapi.SUBMISSION_ATTRIBUTES) == list(FIELDS)

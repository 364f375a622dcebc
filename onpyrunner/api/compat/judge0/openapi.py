"""The Judge0 API in the OpenAPI schema: what its routes take and answer, truthfully.

Judge0's requests are read by hand (schemas.parse_submission), so FastAPI cannot derive
their schema; it is written here, as loose as Judge0's own coercion ("71" is a language
id, "false" a boolean) and as strict as what OnPyRunner refuses (options it cannot turn
on, features it does not have). Answers are Judge0's shapes: a submission with any subset
of its attributes, problems as {"field": ["message", ...]}, other errors as {"error"}.
"""

from __future__ import annotations

from typing import Any

from onpyrunner.api.compat.judge0.schemas import MAX_BATCH
from onpyrunner.api.errors import error_answer

Schema = dict[str, Any]

_TEXT: Schema = {"type": ["string", "null"]}
_INT: Schema = {"type": ["integer", "null"]}
_NUMBER: Schema = {
    "type": ["number", "string", "null"],
    "description": "a number, or a string holding one; null for the default",
}
#: What an option OnPyRunner cannot turn on may be: false, as Judge0 spells it, or unset.
_OFF: Schema = {"enum": [False, 0, "0", "false", "False", "FALSE", "", None]}
#: A feature OnPyRunner does not have: only empty.
_WORDS: Schema = {"type": ["string", "null"], "maxLength": 512}

SUBMISSION_IN: Schema = {
    "type": "object",
    "description": "Fields Judge0 does not know are ignored. What OnPyRunner honours, maps "
    "or refuses, field by field: docs/judge0.md.",
    "required": ["source_code", "language_id"],
    "properties": {
        "source_code": {"type": "string", "minLength": 1},
        "language_id": {
            "type": ["integer", "string"],
            "description": "an id of GET /languages (a string holding one is read as it)",
        },
        "stdin": _TEXT,
        "expected_output": _TEXT,
        "cpu_time_limit": _NUMBER,
        "cpu_extra_time": _NUMBER,
        "wall_time_limit": _NUMBER,
        "memory_limit": _NUMBER,
        "stack_limit": _NUMBER,
        "max_processes_and_or_threads": _NUMBER,
        "max_file_size": _NUMBER,
        "number_of_runs": _NUMBER,
        "enable_per_process_and_thread_time_limit": _OFF,
        "enable_per_process_and_thread_memory_limit": _OFF,
        "redirect_stderr_to_stdout": _OFF,
        "enable_network": _OFF,
        "compiler_options": _WORDS,
        "command_line_arguments": _WORDS,
        "additional_files": {
            "type": ["string", "null"],
            "description": "a zip archive, base64 (always, whatever base64_encoded says)",
        },
        "callback_url": _TEXT,
    },
}

_STATUS: Schema = {
    "type": "object",
    "required": ["id", "description"],
    "properties": {"id": {"type": "integer"}, "description": {"type": "string"}},
}
_LANGUAGE: Schema = {
    "type": ["object", "null"],
    "required": ["id", "name"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}
_FLAG: Schema = {"type": "boolean"}

#: Each attribute of an answered submission (schemas._all_values; every one of
#: schemas.FIELDS, which tests/api/test_judge0_units.py checks); base64 keeps the types.
SUBMISSION_ATTRIBUTES: dict[str, Schema] = {
    "source_code": _TEXT,
    "language_id": _INT,
    "stdin": _TEXT,
    "expected_output": _TEXT,
    "stdout": _TEXT,
    "status_id": {"type": "integer"},
    "created_at": {"type": "string"},
    "finished_at": _TEXT,
    "time": _TEXT,
    "memory": _INT,
    "stderr": _TEXT,
    "token": {"type": "string"},
    "number_of_runs": {"type": "integer"},
    "cpu_time_limit": _TEXT,
    "cpu_extra_time": {"type": "string"},
    "wall_time_limit": _TEXT,
    "memory_limit": {"type": "integer"},
    "stack_limit": {"type": "integer"},
    "max_processes_and_or_threads": {"type": "integer"},
    "enable_per_process_and_thread_time_limit": _FLAG,
    "enable_per_process_and_thread_memory_limit": _FLAG,
    "max_file_size": {"type": "integer"},
    "compile_output": _TEXT,
    "exit_code": _INT,
    "exit_signal": _INT,
    "message": _TEXT,
    "wall_time": _TEXT,
    "compiler_options": _TEXT,
    "command_line_arguments": _TEXT,
    "redirect_stderr_to_stdout": _FLAG,
    "callback_url": _TEXT,
    "additional_files": _TEXT,
    "enable_network": _FLAG,
    "status": _STATUS,
    "language": _LANGUAGE,
}

SUBMISSION_OUT: Schema = {
    "type": "object",
    "description": "the attributes named by ?fields (a default set without it)",
    "properties": SUBMISSION_ATTRIBUTES,
    "additionalProperties": False,
}
TOKEN: Schema = {
    "type": "object",
    "required": ["token"],
    "properties": {"token": {"type": "string"}},
    "additionalProperties": False,
}
PROBLEMS: Schema = {
    "type": "object",
    "description": "each field at fault, with its problems in Rails' wording",
    "minProperties": 1,
    "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: Schema) -> Schema:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


Responses = dict[int | str, Schema]

_UNAVAILABLE: Responses = {
    503: error_answer("the queue backend is unavailable", **{"Retry-After": "seconds to wait"})
}
_BAD_FIELDS: Responses = {
    400: error_answer("?fields names an attribute a submission does not have")
}
_UNKNOWN: Responses = {404: error_answer("unknown or expired token")}
_POSTED: Responses = {
    400: error_answer("the body is not JSON, or it is nested too deeply"),
    413: error_answer("request body too large"),
    503: error_answer(
        "queue full, or the queue backend is unavailable", **{"Retry-After": "seconds to wait"}
    ),
}

CREATE: Schema = {
    "openapi_extra": _body(SUBMISSION_IN),
    "responses": {
        201: _json(
            {"anyOf": [TOKEN, SUBMISSION_OUT]},
            "the token; with ?wait=true, the submission once finished (or after the "
            "server's max_wait_s)",
        ),
        **_POSTED,
        **_BAD_FIELDS,
        422: _json(PROBLEMS, "the submission's problems"),
    },
}

CREATE_BATCH: Schema = {
    "openapi_extra": _body(
        {
            "type": "object",
            "required": ["submissions"],
            "properties": {
                "submissions": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    # Each is a submission (see POST /submissions), but an invalid one does
                    # not refuse the batch: it gets its problems in its place of the 201.
                    "items": {"type": "object", "description": "a submission"},
                }
            },
        }
    ),
    "responses": {
        201: _json(
            {"type": "array", "items": {"anyOf": [TOKEN, PROBLEMS]}},
            "one entry per submission, in order: its token, or its problems",
        ),
        **_POSTED,
        400: error_answer(f"not 1 to {MAX_BATCH} submissions, or the body is not JSON"),
        422: _json({"type": "array", "items": PROBLEMS}, "no submission was valid"),
    },
}

READ_BATCH: Responses = {
    200: _json(
        {
            "type": "object",
            "required": ["submissions"],
            "properties": {
                "submissions": {
                    "type": "array",
                    "items": {"anyOf": [SUBMISSION_OUT, {"type": "null"}]},
                }
            },
            "additionalProperties": False,
        },
        "the submissions in order, null for an unknown token",
    ),
    400: error_answer(f"not 1 to {MAX_BATCH} tokens, or ?fields names an unknown attribute"),
    **_UNAVAILABLE,
}

READ: Responses = {
    200: _json(SUBMISSION_OUT, "the submission"),
    **_BAD_FIELDS,
    **_UNKNOWN,
    **_UNAVAILABLE,
}

DELETE: Responses = {
    200: _json(SUBMISSION_OUT, "the submission as it was, always base64-encoded"),
    400: error_answer("still in the queue or running, or ?fields names an unknown attribute"),
    **_UNKNOWN,
    **_UNAVAILABLE,
}

LIST: Responses = {
    200: _json(
        {
            "type": "object",
            "required": ["submissions", "meta"],
            "properties": {
                "submissions": {"type": "array", "items": SUBMISSION_OUT},
                "meta": {
                    "type": "object",
                    "required": [
                        "current_page",
                        "next_page",
                        "prev_page",
                        "total_pages",
                        "total_count",
                    ],
                    "properties": {
                        "current_page": {"type": "integer"},
                        "next_page": {"type": ["integer", "null"]},
                        "prev_page": {"type": ["integer", "null"]},
                        "total_pages": {"type": "integer"},
                        "total_count": {"type": "integer"},
                    },
                },
            },
        },
        "the submissions that ended, newest first, a page at a time",
    ),
    400: error_answer("page or per_page below 1, or ?fields names an unknown attribute"),
    403: {"description": "no valid X-Auth-User authorization token (Judge0's AUTHZ_TOKEN)"},
    404: error_answer("the history is off on this server"),
    503: error_answer("the history database is unavailable", **{"Retry-After": "seconds"}),
}

AUTHENTICATE: Responses = {200: {"description": "the token is valid (or none is needed)"}}

LANGUAGE: Responses = {404: error_answer("no live worker offers this language"), **_UNAVAILABLE}

UNAVAILABLE = _UNAVAILABLE

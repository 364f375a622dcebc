"""Judge0's read-only endpoints: languages, statuses, about, configuration, system, workers."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from onpyrunner import __version__
from onpyrunner.api.compat.judge0 import languages, openapi
from onpyrunner.api.compat.judge0.schemas import MAX_BATCH, MAX_CPU_EXTRA_TIME_S
from onpyrunner.api.compat.judge0.state import Judge0, judge0_dependency
from onpyrunner.api.compat.judge0.status import Status
from onpyrunner.api.services import Services, services_dependency

router = APIRouter(tags=["judge0"])
Deps = Annotated[Services, Depends(services_dependency)]
State = Annotated[Judge0, Depends(judge0_dependency)]

#: The Judge0 version this API answers as.
JUDGE0_VERSION = "1.13.1"


@router.post("/authenticate", response_class=Response, responses=openapi.AUTHENTICATE)
async def authenticate() -> Response:
    """200 when the request's token is valid (or no token is required): the check itself
    is done for every route by the token middleware."""
    return Response(status_code=200)


@router.get("/languages", responses=openapi.UNAVAILABLE)
async def list_languages(svc: Deps) -> list[dict[str, Any]]:
    """The languages the live workers can run: [{"id", "name"}]."""
    return [
        {"id": lang.id, "name": lang.display_name(version)}
        for lang, version in languages.offered(await svc.languages())
    ]


@router.get("/languages/all", responses=openapi.UNAVAILABLE)
async def all_languages(svc: Deps) -> list[dict[str, Any]]:
    """As /languages, with is_archived (OnPyRunner archives nothing)."""
    return [
        {"id": lang.id, "name": lang.display_name(version), "is_archived": False}
        for lang, version in languages.offered(await svc.languages())
    ]


@router.get("/languages/{language_id}", responses=openapi.LANGUAGE)
async def get_language(language_id: int, svc: Deps) -> JSONResponse:
    """One language with its file name and commands."""
    for lang, version in languages.offered(await svc.languages()):
        if lang.id == language_id:
            spec = languages.spec_of(lang.runtime)
            compile_phase = spec.compile if spec else None
            return JSONResponse(
                {
                    "id": lang.id,
                    "name": lang.display_name(version),
                    "is_archived": False,
                    "source_file": spec.source_file if spec else None,
                    "compile_cmd": " ".join(compile_phase.command) if compile_phase else None,
                    "run_cmd": " ".join(spec.run.command) if spec else None,
                }
            )
    return JSONResponse({"error": f"language with id {language_id} not found"}, status_code=404)


@router.get("/statuses")
async def statuses() -> list[dict[str, Any]]:
    """Judge0's fourteen statuses."""
    return [{"id": int(s), "description": s.description} for s in Status]


@router.get("/about")
async def about() -> dict[str, str]:
    """Judge0's about: the version clients check ("1.13.1")."""
    return {
        "version": JUDGE0_VERSION,
        "homepage": "https://github.com/onpyrunner/onpyrunner",
        "source_code": "https://github.com/onpyrunner/onpyrunner",
        "maintainer": f"OnPyRunner {__version__} (a Judge0 CE {JUDGE0_VERSION} compatible API)",
    }


@router.get("/version", response_class=PlainTextResponse)
async def version() -> str:
    """The Judge0 version, as plain text."""
    return JUDGE0_VERSION


@router.get("/config_info")
async def config_info(svc: Deps, state: State) -> dict[str, Any]:
    """The defaults, maximums and switches submissions are held to (Judge0's keys)."""
    s = svc.settings
    d, m = svc.limits.defaults, svc.limits.maximums
    return {
        "maintenance_mode": False,
        "enable_wait_result": True,
        "enable_compiler_options": True,
        "allowed_languages_for_compile_options": [],
        "enable_command_line_arguments": True,
        "enable_submission_delete": True,
        "enable_callbacks": True,
        "callbacks_max_tries": s.judge0_callback_max_tries,
        "callbacks_timeout": s.judge0_callback_timeout_s,
        "enable_additional_files": True,
        "max_queue_size": s.max_pending_jobs,
        "cpu_time_limit": d.cpu_time_ms / 1000,
        "max_cpu_time_limit": m.cpu_time_ms / 1000,
        "cpu_extra_time": 0.0,
        "max_cpu_extra_time": MAX_CPU_EXTRA_TIME_S,
        "wall_time_limit": d.wall_time_ms / 1000,
        "max_wall_time_limit": m.wall_time_ms / 1000,
        "memory_limit": d.memory_mb * 1024,
        "max_memory_limit": m.memory_mb * 1024,
        "stack_limit": state.stack_kb,
        "max_stack_limit": state.stack_kb,
        "max_processes_and_or_threads": d.max_processes,
        "max_max_processes_and_or_threads": m.max_processes,
        "enable_per_process_and_thread_time_limit": False,
        "allow_enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "max_file_size": d.max_file_kb,
        "max_max_file_size": m.max_file_kb,
        "number_of_runs": 1,
        "max_number_of_runs": 1,
        "redirect_stderr_to_stdout": False,
        "max_extract_size": 0,
        "enable_batched_submissions": True,
        "max_submission_batch_size": MAX_BATCH,
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": False,
        "allow_enable_network": False,
        "enable_network": False,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _meminfo_kb(name: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _human(kb: int | None) -> str:
    if kb is None:
        return "unknown"
    return f"{kb / (1024 * 1024):.1f}Gi" if kb >= 1024 * 1024 else f"{kb // 1024}Mi"


@router.get("/system_info")
async def system_info() -> dict[str, str]:
    """The machine this API process runs on (lscpu-like keys, as Judge0 answers); with
    separate worker machines, theirs may differ."""
    return {
        "Architecture": platform.machine(),
        "CPU(s)": str(os.cpu_count() or 0),
        "Model name": _cpu_model(),
        "Kernel": platform.release(),
        "Mem": _human(_meminfo_kb("MemTotal")),
        "Swap": _human(_meminfo_kb("SwapTotal")),
    }


@router.get("/workers", responses=openapi.UNAVAILABLE)
async def workers(svc: Deps) -> list[dict[str, Any]]:
    """Judge0's one queue: its size, live workers, and jobs running now."""
    stats = await svc.store.stats()
    return [
        {
            "queue": JUDGE0_VERSION,
            "size": stats.pending,
            "available": stats.workers_alive,
            "idle": max(0, stats.workers_alive - stats.running),
            "working": stats.running,
            "paused": 0,
            "failed": 0,
        }
    ]

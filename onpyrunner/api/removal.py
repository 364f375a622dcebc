"""Removing a finished job: its record and its history row, for DELETE /jobs/{id} and for
every compatible API's delete (Judge0's DELETE /submissions/{token})."""

from __future__ import annotations

import uuid

from onpyrunner.api.services import Services
from onpyrunner.models import Job


async def remove_finished(svc: Services, job: Job) -> bool:
    """Remove a finished job's history row, then its record. False when the record was
    already gone (expired or removed meanwhile); the history row is gone either way.

    Raises:
        HistoryUnavailableError: the history database is down: nothing was removed.
        BackendUnavailableError: the queue backend is down (the history row is gone).
    """
    if svc.history is not None:
        await svc.history.delete(job.id)
    return await svc.store.delete(job.id)


async def remove_from_history(svc: Services, job_id: str) -> bool:
    """Remove the history row of a job whose record has expired; False when there is none
    (or the history is off).

    Raises:
        HistoryUnavailableError: the history database is down.
    """
    if svc.history is None:
        return False
    try:  # job ids are UUIDs, as str(uuid4()) writes them: anything else is in no history
        if str(uuid.UUID(job_id)) != job_id:
            return False
    except ValueError:
        return False
    return await svc.history.delete(job_id)

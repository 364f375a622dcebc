"""Test sets: cases stored once by their content's hash, named by judge jobs and batches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError

from onpyrunner.api.errors import ErrorResponses, field_error
from onpyrunner.api.schemas import TestSetCreate, TestSetStored
from onpyrunner.api.services import Services, services_dependency
from onpyrunner.api.submit import case_errors
from onpyrunner.judge import testsets

router = APIRouter(tags=["test sets"])
Deps = Annotated[Services, Depends(services_dependency)]


@router.post(
    "/test-sets", status_code=201, response_model=TestSetStored, responses=ErrorResponses.submit
)
async def store_test_set(body: TestSetCreate, svc: Deps) -> TestSetStored:
    """Store test cases once; a judge job (or a batch) names them by the returned id as
    `test_set` instead of carrying them. The same cases always get the same id; storing
    them again renews their TTL."""
    settings = svc.settings
    errors = case_errors(body.test_cases, settings)
    set_id, data = testsets.encode(body.test_cases)
    max_bytes = settings.max_test_set_kb * 1024
    if len(data.encode()) > max_bytes:
        message = f"are larger than the server maximum of {max_bytes} bytes (as JSON)"
        errors.append(field_error(("body", "test_cases"), message))
    if errors:
        raise RequestValidationError(errors)
    await svc.store.put_test_set(set_id, data, settings.test_set_ttl_s)
    return TestSetStored(id=set_id, cases=len(body.test_cases), ttl_s=settings.test_set_ttl_s)

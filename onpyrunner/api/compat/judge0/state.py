"""What the Judge0 routes share: the app's services and the callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from onpyrunner.api.compat.judge0 import languages
from onpyrunner.api.compat.judge0.callbacks import Callbacks
from onpyrunner.api.compat.judge0.schemas import DEFAULT_FIELDS, render_submission
from onpyrunner.api.services import Services
from onpyrunner.models import Job


@dataclass
class Judge0:
    """Built in the app's lifespan, reached through the request."""

    services: Services
    callbacks: Callbacks

    @property
    def stack_kb(self) -> int:
        """The stack every run gets (the sandbox policy's), in Judge0's unit."""
        stack_kb = self.services.limits.stack_kb
        assert stack_kb is not None, "the service's limits are checked against the policy"
        return stack_kb

    async def names(self) -> dict[str, str]:
        """Judge0 display name per runtime id, with the versions the workers probed."""
        names = {lang.runtime: lang.display_name(None) for lang in languages.LANGUAGES}
        for lang, version in languages.offered(await self.services.languages()):
            names[lang.runtime] = lang.display_name(version)
        return names

    async def render(
        self, job: Job, fields: tuple[str, ...] = DEFAULT_FIELDS, base64: bool = True
    ) -> dict[str, Any]:
        """A job as Judge0 answers it."""
        return render_submission(
            job, fields, base64=base64, names=await self.names(), stack_kb=self.stack_kb
        )


def judge0(conn: HTTPConnection) -> Judge0:
    """The Judge0 state of the app serving this request."""
    found = conn.app.state.judge0
    assert isinstance(found, Judge0)
    return found


async def judge0_dependency(conn: HTTPConnection) -> Judge0:
    """`judge0` as a FastAPI dependency (async: a sync one would cost a thread hop)."""
    return judge0(conn)

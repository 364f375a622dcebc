"""What the Judge0 routes share: the app's services, the callbacks, the sandbox's stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection

from onpyrunner.api.judge0 import languages
from onpyrunner.api.judge0.callbacks import Callbacks
from onpyrunner.api.judge0.schemas import DEFAULT_FIELDS, render_submission
from onpyrunner.api.services import Services
from onpyrunner.models import Job
from onpyrunner.sandbox.policy import Policy, parse_textproto, policy_text
from onpyrunner.sandbox.runtimes import shipped_specs


def sandbox_stack_kb() -> int:
    """The stack every run gets: the policy's rlimit_stack (MiB), in KB (Judge0's unit)."""
    policy = Policy(path=Path("base.cfg"), message=parse_textproto(policy_text("base.cfg")))
    return policy.int_field("rlimit_stack") * 1024


@dataclass
class Judge0:
    """Built in the app's lifespan, reached through the request."""

    services: Services
    callbacks: Callbacks
    stack_kb: int

    async def names(self) -> dict[str, str]:
        """Judge0 display name per runtime id, with the versions the workers probed."""
        names = {lang.runtime: lang.display_name(None) for lang in languages.LANGUAGES}
        for lang, version in languages.offered(await self.services.languages()):
            names[lang.runtime] = lang.display_name(version)
        return names

    async def runtimes(self) -> set[str]:
        """Runtimes a submission may use now: those of the live workers, or when no worker
        is alive, every shipped one (the job waits), as POST /execute decides."""
        live = {info.id for info in await self.services.languages()}
        return live or {spec.id for spec in shipped_specs()}

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

"""The sandbox as callers see it: `await sandbox.run(...)` over a pool of slots.

Each slot runs one program at a time and always has its next sandbox ready (see slot.py);
at most `concurrency` programs run at once. A run goes to an idle slot already serving its
runtime when there is one; otherwise an idle slot switches runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil

from onpyrunner.errors import SandboxError, UnknownLanguageError
from onpyrunner.models import Limits, RunResult
from onpyrunner.sandbox import cgroup, initbin, nsjail
from onpyrunner.sandbox.runtimes import Runtime, discover
from onpyrunner.sandbox.slot import Slot, SlotConfig
from onpyrunner.settings import Settings

log = logging.getLogger(__name__)


class Sandbox:
    """A pool of sandbox slots on this machine. Use `await Sandbox.start(settings)`."""

    def __init__(
        self,
        settings: Settings,
        runtimes: dict[str, Runtime],
        layout: cgroup.CgroupLayout,
        slots: list[Slot],
    ) -> None:
        self.settings = settings
        self.runtimes = runtimes
        self.layout = layout
        self.slots = slots
        self._idle: list[Slot] = list(slots)
        self._cond = asyncio.Condition()
        self._running = asyncio.Semaphore(settings.effective_concurrency())
        self._closed = False

    @classmethod
    async def start(cls, settings: Settings, slots: int | None = None) -> Sandbox:
        """Check the machine, build what is needed, and start the slots.

        Raises:
            SandboxError: the sandbox cannot work here; the message says what is missing.
        """
        if os.geteuid() != 0:
            raise SandboxError(
                "the sandbox needs root (to map the sandbox user to its own host uid and to "
                "manage cgroups); run as root"
            )
        nsjail_path = nsjail.locate(settings.nsjail_path)
        init = await asyncio.to_thread(initbin.ensure_init, settings.state_dir)
        runtimes = await asyncio.to_thread(discover, settings, settings.state_dir / "policies")
        instance = f"onpyrunner-{os.getpid()}-{secrets.token_hex(3)}"  # several per process
        layout = cgroup.detect(settings.cgroup_parent, instance)
        if layout.version is cgroup.CgroupVersion.V2:
            cgroup.prepare_v2_parent(layout)
        config = SlotConfig(
            nsjail=nsjail_path,
            init=init,
            work_dir=settings.work_dir / instance,
            cpus=len(os.sched_getaffinity(0)),
        )
        count = slots if slots is not None else settings.effective_slots()
        pool: list[Slot] = []
        try:
            for i in range(count):
                slot = Slot(i, settings.sandbox_uid_base + i, layout.slot(i), config)
                slot.start()
                pool.append(slot)
        except (OSError, SandboxError) as e:
            for slot in pool:
                await slot.stop()
            layout.remove()
            if isinstance(e, SandboxError):
                raise
            raise SandboxError(f"cannot set up the sandbox cgroups: {e}") from e
        sandbox = cls(settings, runtimes, layout, pool)
        if "python" in runtimes:
            try:
                for slot in pool:
                    await slot.load(runtimes["python"])
            except SandboxError:
                await sandbox.close()
                raise
        return sandbox

    def runtime(self, language: str) -> Runtime:
        """The runtime for a language id.

        Raises:
            UnknownLanguageError: not available here.
        """
        try:
            return self.runtimes[language]
        except KeyError:
            raise UnknownLanguageError(language, sorted(self.runtimes)) from None

    async def _acquire(self, runtime_id: str) -> Slot:
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._idle) or self._closed)
            if self._closed:
                raise SandboxError("the sandbox is shutting down")
            best = next((s for s in self._idle if s.runtime_id == runtime_id), self._idle[0])
            self._idle.remove(best)
            return best

    async def _release(self, slot: Slot) -> None:
        async with self._cond:
            self._idle.append(slot)
            self._cond.notify()

    async def run(
        self,
        language: str,
        source: bytes,
        stdin: bytes = b"",
        limits: Limits | None = None,
    ) -> RunResult:
        """Run one program in a fresh sandbox and classify the outcome.

        Raises:
            UnknownLanguageError: the language is not available here.
            SandboxError: the sandbox failed; nothing is said about the program.
        """
        runtime = self.runtime(language)
        limits = limits or self.settings.default_limits()
        async with self._running:
            slot = await self._acquire(runtime.id)
            try:
                return await slot.run(runtime, {runtime.spec.source_file: source}, stdin, limits)
            finally:
                await self._release(slot)

    async def settle(self) -> None:
        """Wait until every idle slot's next sandbox is ready (or has failed to get ready)."""
        for slot in list(self._idle):
            if slot.jail is not None and slot.jail.alive:
                with contextlib.suppress(SandboxError):
                    await slot.jail.wait_ready()

    async def close(self) -> None:
        """Stop every slot, remove the cgroups and the work directory."""
        async with self._cond:
            self._closed = True
            self._cond.notify_all()
        for slot in self.slots:
            await slot.stop()
        self.layout.remove()
        if self.slots:
            shutil.rmtree(self.slots[0].config.work_dir, ignore_errors=True)

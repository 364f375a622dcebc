"""The sandbox as callers see it: `await sandbox.run(...)` over a pool of ready slots.

Slots run one program at a time each; at most `concurrency` run at once. After a run a slot
arms its next sandbox in the background (for the same runtime), so the next run finds
nsjail's start-up, the namespaces and the mounts already done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from dataclasses import dataclass

from onpyrunner.errors import SandboxError, UnknownLanguageError
from onpyrunner.models import Limits, RunResult
from onpyrunner.sandbox import cgroup, initbin, nsjail
from onpyrunner.sandbox.runtimes import Runtime, discover
from onpyrunner.sandbox.slot import Armed, Slot, SlotConfig
from onpyrunner.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class _Next:
    """A slot's next sandbox, being readied or ready."""

    runtime_id: str
    task: asyncio.Task[Armed]


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
        self._next: dict[int, _Next] = {}
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
        layout = cgroup.detect(settings.cgroup_parent, f"onpyrunner-{os.getpid()}")
        if layout.version is cgroup.CgroupVersion.V2:
            cgroup.prepare_v2_parent(layout)
        config = SlotConfig(
            nsjail=nsjail_path,
            init=init,
            work_dir=settings.work_dir / str(os.getpid()),
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
        if settings.warm_sandboxes and "python" in runtimes:
            for slot in pool:
                sandbox._prepare(slot, "python")
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

    def _prepare(self, slot: Slot, runtime_id: str) -> None:
        task = asyncio.create_task(slot.arm(self.runtimes[runtime_id]))
        task.add_done_callback(_ignore_result)
        self._next[slot.index] = _Next(runtime_id, task)

    async def _acquire(self, runtime_id: str) -> Slot:
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._idle) or self._closed)
            if self._closed:
                raise SandboxError("the sandbox is shutting down")
            best = next(
                (
                    s
                    for s in self._idle
                    if (n := self._next.get(s.index)) and n.runtime_id == runtime_id
                ),
                self._idle[0],
            )
            self._idle.remove(best)
            return best

    async def _release(self, slot: Slot) -> None:
        async with self._cond:
            self._idle.append(slot)
            self._cond.notify()

    async def _take_armed(self, slot: Slot, runtime: Runtime) -> Armed:
        """The slot's ready sandbox for runtime, or a freshly armed one."""
        pending = self._next.pop(slot.index, None)
        if pending is not None:
            try:
                armed = await pending.task
            except SandboxError as e:
                log.warning("slot %d: readied sandbox failed, starting anew: %s", slot.index, e)
            else:
                if pending.runtime_id == runtime.id:
                    return armed
                await slot.disarm(armed)
        return await slot.arm(runtime)

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
                armed = await self._take_armed(slot, runtime)
                return await slot.fire(armed, {runtime.spec.source_file: source}, stdin, limits)
            finally:
                if self.settings.warm_sandboxes and not self._closed:
                    self._prepare(slot, runtime.id)
                await self._release(slot)

    async def settle(self) -> None:
        """Wait until every slot's next sandbox is ready (or has failed to get ready)."""
        tasks = [n.task for n in self._next.values()]
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Stop every slot, remove the cgroups and the work directory."""
        async with self._cond:
            self._closed = True
            self._cond.notify_all()
        for slot in self.slots:
            pending = self._next.pop(slot.index, None)
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await slot.disarm(await pending.task)
        for slot in self.slots:
            await slot.stop()
        self.layout.remove()
        if self.slots:
            shutil.rmtree(self.slots[0].config.work_dir, ignore_errors=True)


def _ignore_result(task: asyncio.Task[Armed]) -> None:
    """Retrieve a background arm's exception so asyncio does not log it as unhandled."""
    if not task.cancelled():
        task.exception()

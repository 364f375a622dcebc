"""The sandbox as callers see it: `await sandbox.run(...)` over a pool of slots.

Each slot runs one program at a time and always has its next sandbox ready (see slot.py);
at most `concurrency` programs run at once. A run goes to an idle slot whose sandbox of its
runtime is ready when there is one, else to one serving its runtime, else an idle slot
switches runtime.

A sandbox that fails before the program starts (SandboxFault) costs the run nothing: the
slot is rebuilt and the run goes to a fresh sandbox, up to SANDBOX_TRIES sandboxes; each
such rebuild is counted by cause (`rebuilds`, exported in the metrics). Only when every try
fails is the run a SandboxError, with the last cause.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from onpyrunner.errors import ConfigError, SandboxError, SandboxFault, UnknownLanguageError
from onpyrunner.limits import Limits
from onpyrunner.models import Outcome, RunResult
from onpyrunner.sandbox import cgroup, initbin, nsjail, policy
from onpyrunner.sandbox.cache import CompileCache, cache_key
from onpyrunner.sandbox.live import Live
from onpyrunner.sandbox.runtimes import Runtime, discover, phases_of
from onpyrunner.sandbox.slot import OVERHEAD_PROCESSES, Finished, RunSpec, Slot, SlotConfig
from onpyrunner.sandbox.workspace import checked_path
from onpyrunner.settings import Settings

log = logging.getLogger(__name__)

#: Fresh sandboxes a run may be tried in when sandboxes fail before its program starts.
SANDBOX_TRIES = 3
#: Compiler output kept in compile_output.
COMPILE_OUTPUT_CHARS = 16_000
_COMPILE_STOPPED = {
    Outcome.TIME_LIMIT_EXCEEDED: "compilation stopped: over its time limit ({cpu} ms CPU, "
    "{wall} ms wall)",
    Outcome.MEMORY_LIMIT_EXCEEDED: "compilation stopped: over its memory limit ({mem} MiB)",
    Outcome.OUTPUT_LIMIT_EXCEEDED: "compilation stopped: the compiler wrote more than {out} KiB",
}


@dataclass(frozen=True)
class RunOptions:
    """What a run may carry beyond its program, stdin and limits."""

    #: More files in the working directory: relative path -> content (subdirectories are
    #: made as needed). The program's own file wins over one of the same name.
    files: Mapping[str, bytes] = field(default_factory=dict)
    #: Arguments after the run command.
    args: tuple[str, ...] = ()
    #: Files to read back from the working directory after the run (relative paths), each
    #: up to fetch_max_bytes; they come back base64-encoded in the result's `files`.
    fetch: tuple[str, ...] = ()
    fetch_max_bytes: int = 1 << 20
    #: Stdin that stays open, output as it is written, signals (see live.py).
    live: Live | None = None


@dataclass(frozen=True)
class PreparedRun:
    """One run of a prepared program, for Sandbox.run_together."""

    prepared: Prepared
    stdin: bytes = b""
    limits: Limits | None = None
    options: RunOptions = field(default_factory=lambda: RunOptions())


@dataclass(frozen=True)
class Prepared:
    """A program ready to run any number of times: the files of its sandbox, or why it
    could not be compiled."""

    runtime: Runtime
    files: dict[str, bytes]
    source_file: str
    main: str
    links: dict[str, Path] = field(default_factory=dict)  # a compiled program, cached
    compile_error: RunResult | None = None
    cached: bool = False
    #: Wall time of its compile as the sandbox measured it (ms): 0 when it came from the
    #: compile cache, None for a language that does not compile.
    compile_ms: int | None = None
    #: Arguments of every run, after the run command (before a run's own options.args).
    args: tuple[str, ...] = ()


def compile_error(result: RunResult, limits: Limits, produced: bool) -> RunResult:
    """The COMPILE_ERROR result of a failed compile, with the compiler's output."""
    output = (result.stdout + result.stderr).strip()
    template = _COMPILE_STOPPED.get(result.outcome)
    if template is not None:
        reason = template.format(
            cpu=limits.cpu_time_ms,
            wall=limits.wall_time_ms,
            mem=limits.memory_mb,
            out=limits.output_kb,
        )
        output = f"{reason}\n{output}".strip()
    elif result.outcome is Outcome.SUCCESS and not produced:
        output = f"the compiler produced no program\n{output}".strip()
    if len(output) > COMPILE_OUTPUT_CHARS:
        output = output[:COMPILE_OUTPUT_CHARS] + "\n[compiler output cut]"
    return RunResult(
        outcome=Outcome.COMPILE_ERROR,
        stdout="",
        stderr="",
        exit_code=result.exit_code,
        signal=result.signal,
        usage=result.usage,
        compile_output=output,
        compile_time_ms=result.usage.wall_time_ms,
    )


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
        #: Callers waiting for an idle slot: each is woken whenever one comes free, and
        #: looks again (at most `concurrency` of them wait here: the rest wait for a permit).
        self._slot_waiters: list[asyncio.Future[None]] = []
        self._running = asyncio.Semaphore(settings.effective_concurrency())
        self._closed = False
        self._compiling: dict[str, asyncio.Lock] = {}
        self._together = asyncio.Lock()  # one caller at a time takes several slots
        self.cache = CompileCache(
            settings.compile_cache_dir or settings.work_dir / "compile-cache",
            settings.compile_cache_mb << 20,
        )
        self.limits = settings.limit_table()
        self.compile_stats = {"hit": 0, "miss": 0}
        #: Slots rebuilt after a sandbox failed before its program started, by cause.
        self.rebuilds: dict[str, int] = {}

    @classmethod
    async def start(cls, settings: Settings, slots: int | None = None) -> Sandbox:
        """Check the machine, build what is needed, and start the slots.

        Raises:
            SandboxError: the sandbox cannot work here; the message says what is missing.
            ConfigError: a policy file nsjail refuses (named with its line and field).
        """
        if os.geteuid() != 0:
            raise SandboxError(
                "the sandbox needs root (to map the sandbox user to its own host uid and to "
                "manage cgroups); run as root"
            )
        nsjail_path = nsjail.locate(settings.nsjail_path)
        init = await asyncio.to_thread(initbin.ensure_init, settings.state_dir)
        instance = f"onpyrunner-{os.getpid()}-{secrets.token_hex(3)}"  # several per process
        work_dir = settings.work_dir / instance
        # Composed policies are this instance's own: another service on the host (another
        # version, or other settings) composes its own beside them, never over them.
        try:
            runtimes = await asyncio.to_thread(discover, settings, work_dir / "policies")
            await asyncio.gather(
                *(
                    policy.validate(nsjail_path, one)
                    for phase in phases_of(runtimes)
                    for one in phase.policies
                )
            )
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        layout = cgroup.detect(settings.cgroup_parent, instance)
        if settings.fork_server and layout.version is cgroup.CgroupVersion.V2:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise ConfigError(
                "fork_server needs cgroup v1 for now (on v2 a run's cgroup would not hold "
                "the forked interpreter: docs/sandbox.md); unset ONPYRUNNER_FORK_SERVER"
            )
        if layout.version is cgroup.CgroupVersion.V2:
            cgroup.prepare_v2_parent(layout)
        maximums = settings.limit_table().maximums
        config = SlotConfig(
            nsjail=nsjail_path,
            init=init,
            work_dir=work_dir,
            cpus=len(os.sched_getaffinity(0)),
            between_runs_memory_bytes=max(maximums.memory_mb, 256) << 20,
            between_runs_pids_max=maximums.max_processes + OVERHEAD_PROCESSES,
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
                    await slot.load(runtimes["python"].run)
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

    async def _acquire(self, phase_key: str) -> Slot:
        """An idle slot, preferably one already serving the phase (its sandbox is ready).

        Cancellation-safe: a slot is taken only in the step that returns it, and a wake-up
        is never consumed (every waiter is woken and looks again), so a caller cancelled
        while it waits loses nothing for the others (asyncio.Condition in Python 3.11 loses
        a notify given to a waiter that is cancelled before it runs)."""
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise SandboxError("the sandbox is shutting down")
            if self._idle:
                serving = [s for s in self._idle if s.phase_key == phase_key]
                best = next((s for s in serving if s.ready), serving[0] if serving else None)
                if best is None:  # a slot whose phase is least in demand: the last one used
                    best = self._idle[0]
                self._idle.remove(best)
                return best
            waiter: asyncio.Future[None] = loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            finally:
                self._slot_waiters.remove(waiter)

    def _release(self, slot: Slot) -> None:
        """Give a slot back (synchronous: a cancelled caller cannot lose it on the way)."""
        self._idle.append(slot)
        self._wake_slot_waiters()

    def _wake_slot_waiters(self) -> None:
        for waiter in self._slot_waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _in_slot(self, job: RunSpec) -> Finished:
        async with self._running:
            for attempt in range(1, SANDBOX_TRIES + 1):
                slot = await self._acquire(job.phase.key)
                try:
                    return await slot.run(job)
                except SandboxFault as e:
                    self.rebuilds[e.cause] = self.rebuilds.get(e.cause, 0) + 1
                    log.warning(
                        "slot %d rebuilt (%s): %s; try %d of %d",
                        slot.index,
                        e.cause,
                        e,
                        attempt,
                        SANDBOX_TRIES,
                    )
                    if attempt == SANDBOX_TRIES:
                        raise SandboxError(f"{e} (tried {attempt} fresh sandboxes)") from e
                finally:
                    self._release(slot)
        raise AssertionError("unreachable")

    async def prepare(
        self,
        language: str,
        source: bytes,
        compile_options: tuple[str, ...] = (),
        files: Mapping[str, bytes] | None = None,
        compile_limits: Limits | None = None,
    ) -> Prepared:
        """The files each run of this program needs: the source, or the compiled program
        (compiled once in the sandbox, or taken from the compile cache).

        Args:
            compile_options: more compiler arguments, where the compile command says
                ${OPTIONS} (the caller has checked them against what the language allows).
            files: more files beside the source (relative paths): compiled with it (a
                header; part of the compile cache's key), and put beside the program in
                each run (data it reads). The source wins over a namesake.
            compile_limits: the compile's limits (a request's, resolved: at most the
                server's compile limits); None: the server's compile limits. Only a
                compile that succeeded is cached, so a compile stopped by a request's
                shorter limits is that request's alone.

        Raises:
            UnknownLanguageError: the language is not available here.
            ValueError: a path of files is not a plain relative path.
            SandboxError: the sandbox failed.
        """
        runtime = self.runtime(language)
        extra = dict(files or {})
        for path in extra:
            checked_path(path)
        source_file, main = runtime.source_name(source.decode(errors="replace"))
        if runtime.compile is None:
            return Prepared(runtime, {**extra, source_file: source}, source_file, main)
        key = cache_key(runtime, source_file, source, compile_options, extra)
        lock = self._compiling.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # the same source compiled by two jobs at once: only once
                cached = self.cache.get(key)
                if cached is not None:
                    self.compile_stats["hit"] += 1
                    return Prepared(
                        runtime, extra, source_file, main, links=cached, cached=True, compile_ms=0
                    )
                self.compile_stats["miss"] += 1
                compiled = await self._compile(
                    runtime,
                    key,
                    source_file,
                    main,
                    {**extra, source_file: source},
                    compile_options,
                    compile_limits or self.limits.compile,
                )
                return dataclasses.replace(compiled, files=extra)
        finally:
            if not lock.locked() and self._compiling.get(key) is lock:
                del self._compiling[key]

    async def _compile(
        self,
        runtime: Runtime,
        key: str,
        source_file: str,
        main: str,
        files: dict[str, bytes],
        options: tuple[str, ...],
        limits: Limits,
    ) -> Prepared:
        assert runtime.compile is not None
        finished = await self._in_slot(
            RunSpec(
                phase=runtime.compile,
                files=files,
                argv=runtime.compile.argv(source_file, main, limits, options),
                stdin=b"",
                limits=limits,
                memory_error=runtime.memory_error_in,
                collect=True,
            )
        )
        result = finished.result
        compile_ms = result.usage.wall_time_ms
        if result.outcome is not Outcome.SUCCESS or not finished.artifacts:
            # never cached: a failure may be this request's own (its shorter limits)
            failed = compile_error(result, limits, bool(finished.artifacts))
            return Prepared(
                runtime, {}, source_file, main, compile_error=failed, compile_ms=compile_ms
            )
        links = await asyncio.to_thread(self.cache.put, key, finished.artifacts)
        return Prepared(runtime, {}, source_file, main, links=links, compile_ms=compile_ms)

    async def run_prepared(
        self,
        prepared: Prepared,
        stdin: bytes = b"",
        limits: Limits | None = None,
        options: RunOptions | None = None,
    ) -> RunResult:
        """Run a prepared program in a fresh sandbox and classify the outcome.

        Raises:
            ValueError: a path of options.files or options.fetch is not a plain relative
                path (the caller checks them first).
            SandboxError: the sandbox failed; nothing is said about the program.
        """
        if prepared.compile_error is not None:
            return prepared.compile_error
        options = options or RunOptions()
        finished = await self._in_slot(self._run_spec(prepared, stdin, limits, options))
        result = self._with_fetched(finished, options)
        if prepared.compile_ms is None:
            return result
        return result.model_copy(update={"compile_time_ms": prepared.compile_ms})

    def _run_spec(
        self, prepared: Prepared, stdin: bytes, limits: Limits | None, options: RunOptions
    ) -> RunSpec:
        limits = limits or self.limits.defaults
        runtime = prepared.runtime
        files = dict(options.files)
        files.update(prepared.files)  # the program's own files win over a namesake
        for path in list(files):  # and so does its compiled program (a link, put last)
            if path.split("/", 1)[0] in prepared.links:
                del files[path]
        return RunSpec(
            phase=runtime.run,
            files=files,
            links=prepared.links,
            argv=[
                *runtime.run.argv(prepared.source_file, prepared.main, limits),
                *prepared.args,
                *options.args,
            ],
            stdin=stdin,
            limits=limits,
            memory_error=runtime.memory_error_in,
            fetch=tuple(checked_path(p) for p in options.fetch),
            fetch_max_bytes=options.fetch_max_bytes,
            live=options.live,
        )

    @staticmethod
    def _with_fetched(finished: Finished, options: RunOptions) -> RunResult:
        if not options.fetch:
            return finished.result
        fetched = {path: base64.b64encode(data).decode() for path, data in finished.fetched.items()}
        return finished.result.model_copy(update={"files": fetched})

    async def run_together(self, runs: Sequence[PreparedRun]) -> list[RunResult]:
        """Run prepared programs at the same time, each in its own fresh sandbox (an
        interactor and the program it talks to, joined by their live options).

        A slot for every run is taken before any of them starts, so none waits for
        another's sandbox while its clock runs. Only one caller takes several slots at a
        time (the others wait for it): two callers can never each hold part of what the
        other needs. A sandbox that fails before its program starts is not tried again
        here: the other runs are already going; the caller may try the whole again.

        Raises:
            SandboxFault: a sandbox failed before its program started (after every run
                ended); the caller may try them all again.
            SandboxError: the sandbox failed; or the pool has fewer slots than runs.
            ValueError: a path of an options' files or fetch is not a plain relative path.
        """
        if any(run.prepared.compile_error is not None for run in runs):
            raise ValueError("run_together needs programs that compiled")
        if len(runs) > len(self.slots):
            raise SandboxError(
                f"{len(runs)} programs at once need {len(runs)} sandbox slots; "
                f"this pool has {len(self.slots)} (setting sandbox_slots)"
            )
        specs = [self._run_spec(r.prepared, r.stdin, r.limits, r.options) for r in runs]
        # With one run at a time allowed (concurrency 1), the runs share its one permit:
        # holding it, no other run takes a slot, so enough slots come free.
        permits = min(len(specs), self.settings.effective_concurrency())
        held = 0
        slots: list[Slot] = []
        try:
            async with self._together:
                for _ in range(permits):
                    await self._running.acquire()
                    held += 1
                for spec in specs:
                    slots.append(await self._acquire(spec.phase.key))
            ended = await asyncio.gather(
                *(self._in_held_slot(slot, spec) for slot, spec in zip(slots, specs, strict=True)),
                return_exceptions=True,
            )
        finally:
            for slot in slots:
                self._release(slot)
            for _ in range(held):
                self._running.release()
        failures = [e for e in ended if isinstance(e, BaseException)]
        if failures:  # a fault (retryable) only when every failure is one
            worst = next((e for e in failures if not isinstance(e, SandboxFault)), failures[0])
            raise worst
        return [
            self._with_fetched(finished, run.options)
            for finished, run in zip(ended, runs, strict=True)
            if isinstance(finished, Finished)
        ]

    async def _in_held_slot(self, slot: Slot, spec: RunSpec) -> Finished:
        try:
            return await slot.run(spec)
        except SandboxFault as e:
            self.rebuilds[e.cause] = self.rebuilds.get(e.cause, 0) + 1
            log.warning(
                "slot %d rebuilt (%s): %s; a run of several at once", slot.index, e.cause, e
            )
            raise

    async def run(
        self,
        language: str,
        source: bytes,
        stdin: bytes = b"",
        limits: Limits | None = None,
        options: RunOptions | None = None,
        compile_options: tuple[str, ...] = (),
    ) -> RunResult:
        """Compile if the language needs it, run in a fresh sandbox, classify the outcome.

        Raises:
            UnknownLanguageError: the language is not available here.
            ValueError: a path of options is not a plain relative path.
            SandboxError: the sandbox failed; nothing is said about the program.
        """
        prepared = await self.prepare(language, source, compile_options)
        return await self.run_prepared(prepared, stdin, limits, options)

    async def settle(self) -> None:
        """Wait until every idle slot's next sandbox is ready (or has failed to get ready)."""
        for slot in list(self._idle):
            if slot.jail is not None:
                await slot.jail.settle()

    async def close(self) -> None:
        """Stop every slot, remove the cgroups and the work directory."""
        self._closed = True
        self._wake_slot_waiters()
        for slot in self.slots:
            await slot.stop()
        self.layout.remove()
        if self.slots:
            shutil.rmtree(self.slots[0].config.work_dir, ignore_errors=True)

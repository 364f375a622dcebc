"""cgroups for sandbox slots: whole-tree limits and kernel accounting, v1 and v2.

Each sandbox slot owns one long-lived cgroup (one per controller on v1). The slot's
launcher process is moved into it once, at start; every nsjail it starts, and every
process of every run, is then born inside the cgroup. Nothing is attached per run, which
matters: attaching a process to a cgroup waits for an RCU grace period (7-20 ms here).

Per run, the service sets the limits, notes the counters, and reads them back at the end:
CPU time of the whole tree (cpuacct / cpu.stat), peak memory (max_usage_in_bytes /
memory.peak, reset at the start of the run), and the kernel's OOM-kill counter.
"""

from __future__ import annotations

import contextlib
import os
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from onpyrunner.errors import SandboxError

V1_CONTROLLERS = ("memory", "pids", "cpuacct")
V2_CONTROLLERS = ("memory", "pids", "cpu")
CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupVersion(IntEnum):
    """Which cgroup hierarchy carries the controllers we need."""

    V1 = 1
    V2 = 2


@dataclass(frozen=True)
class RunStart:
    """Counters noted when a run is released."""

    cpu_ns: int
    oom_kills: int
    memory_baseline_bytes: int


@dataclass(frozen=True)
class RunCounters:
    """What the kernel counted for one run."""

    cpu_ns: int
    memory_peak_bytes: int
    oom_kills: int


def _read(path: Path) -> str:
    return path.read_text()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _kv(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


class SlotCgroup(ABC):
    """The cgroup(s) of one sandbox slot."""

    @abstractmethod
    def create(self) -> None:
        """Make the cgroup directories."""

    @abstractmethod
    def attach(self, pid: int) -> None:
        """Move a process (the slot's launcher) in. Done once per slot."""

    @abstractmethod
    def procs(self) -> list[int]:
        """Every process in the slot."""

    @abstractmethod
    def set_limits(self, memory_bytes: int, pids_max: int) -> RunStart:
        """Set this run's limits and note the counters.

        The memory limit is the slot's usage now (the idle nsjail and init, and file pages
        earlier runs left charged to the slot) plus the run's memory, and the run's peak is
        measured from that same usage: so `memory_peak_bytes` never passes the run's
        memory, and reaches it when the run is killed for memory.
        """

    @abstractmethod
    def relax(self, memory_bytes: int, pids_max: int) -> None:
        """Limits for the time between runs, once a run's processes are all gone: the slot
        then builds its next sandbox and, with warm start, starts its interpreter (trusted
        code only), which must not meet the last run's limits."""

    @abstractmethod
    def cpu_ns(self) -> int:
        """CPU time used by the slot since it was made, ns."""

    @abstractmethod
    def finish(self, start: RunStart) -> RunCounters:
        """Counters of the run that started at `start`. Call once per run: on v2 it
        closes the run's peak-memory handle."""

    @abstractmethod
    def _oom_kills(self) -> int:
        """The kernel's OOM-kill counter of the slot."""

    def oom_kills_since(self, start: RunStart) -> int:
        """OOM kills in the slot since the run started (reads nothing else)."""
        return self._oom_kills() - start.oom_kills

    @abstractmethod
    def remove(self) -> None:
        """Delete the cgroup directories (the slot must be empty)."""

    def kill_all(self, spare: int | None = None) -> int:
        """SIGKILL every process in the slot except `spare`; returns how many."""
        killed = 0
        try:
            pids = self.procs()
        except FileNotFoundError:
            return 0
        for pid in pids:
            if pid != spare:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed


class SlotCgroupV1(SlotCgroup):
    """A slot on cgroup v1: one directory in each of the memory, pids and cpuacct trees."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs
        self.memory = dirs["memory"]
        self._memsw = self.memory / "memory.memsw.limit_in_bytes"

    def create(self) -> None:
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)

    def attach(self, pid: int) -> None:
        for d in self.dirs.values():
            _write(d / "cgroup.procs", str(pid))

    def procs(self) -> list[int]:
        text = _read(self.dirs["pids"] / "cgroup.procs")
        return [int(p) for p in text.split()]

    def set_limits(self, memory_bytes: int, pids_max: int) -> RunStart:
        usage = int(_read(self.memory / "memory.usage_in_bytes"))
        limit = str(usage + memory_bytes)
        has_memsw = self._memsw.exists()
        if has_memsw:  # memsw must stay >= limit: lift it, set the limit, then pin it.
            _write(self._memsw, "-1")
        _write(self.memory / "memory.limit_in_bytes", limit)
        if has_memsw:
            _write(self._memsw, limit)
        _write(self.dirs["pids"] / "pids.max", str(pids_max))
        _write(self.memory / "memory.max_usage_in_bytes", "0")  # peak := current usage
        return RunStart(
            cpu_ns=self.cpu_ns(), oom_kills=self._oom_kills(), memory_baseline_bytes=usage
        )

    def relax(self, memory_bytes: int, pids_max: int) -> None:
        usage = int(_read(self.memory / "memory.usage_in_bytes"))
        limit = str(usage + memory_bytes)
        has_memsw = self._memsw.exists()
        if has_memsw:  # memsw must stay >= limit: lift it, set the limit, then pin it.
            _write(self._memsw, "-1")
        _write(self.memory / "memory.limit_in_bytes", limit)
        if has_memsw:
            _write(self._memsw, limit)
        _write(self.dirs["pids"] / "pids.max", str(pids_max))

    def cpu_ns(self) -> int:
        return int(_read(self.dirs["cpuacct"] / "cpuacct.usage"))

    def _oom_kills(self) -> int:
        return _kv(_read(self.memory / "memory.oom_control")).get("oom_kill", 0)

    def finish(self, start: RunStart) -> RunCounters:
        peak = int(_read(self.memory / "memory.max_usage_in_bytes"))
        return RunCounters(
            cpu_ns=self.cpu_ns() - start.cpu_ns,
            memory_peak_bytes=max(0, peak - start.memory_baseline_bytes),
            oom_kills=self._oom_kills() - start.oom_kills,
        )

    def remove(self) -> None:
        for d in self.dirs.values():
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()


class SlotCgroupV2(SlotCgroup):
    """A slot on cgroup v2: one leaf directory with memory, pids and cpu enabled above it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._peak_fd: int | None = None
        #: The counters of the run that finished last, for a second finish() of it.
        self._finished: tuple[RunStart, RunCounters] | None = None

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def attach(self, pid: int) -> None:
        _write(self.path / "cgroup.procs", str(pid))

    def procs(self) -> list[int]:
        return [int(p) for p in _read(self.path / "cgroup.procs").split()]

    def set_limits(self, memory_bytes: int, pids_max: int) -> RunStart:
        current = int(_read(self.path / "memory.current"))
        _write(self.path / "memory.max", str(current + memory_bytes))
        with contextlib.suppress(FileNotFoundError):
            _write(self.path / "memory.swap.max", "0")
        _write(self.path / "pids.max", str(pids_max))
        # Since Linux 6.12 a write to memory.peak resets the peak seen through that fd.
        if self._peak_fd is not None:
            os.close(self._peak_fd)
        self._peak_fd = os.open(self.path / "memory.peak", os.O_RDWR)
        try:
            os.write(self._peak_fd, b"reset\n")
        except OSError:
            pass  # older kernel: the peak covers the slot's whole life (an overestimate)
        self._finished = None
        return RunStart(
            cpu_ns=self.cpu_ns(), oom_kills=self._oom_kills(), memory_baseline_bytes=current
        )

    def relax(self, memory_bytes: int, pids_max: int) -> None:
        current = int(_read(self.path / "memory.current"))
        _write(self.path / "memory.max", str(current + memory_bytes))
        _write(self.path / "pids.max", str(pids_max))

    def cpu_ns(self) -> int:
        return _kv(_read(self.path / "cpu.stat")).get("usage_usec", 0) * 1000

    def _oom_kills(self) -> int:
        return _kv(_read(self.path / "memory.events")).get("oom_kill", 0)

    def finish(self, start: RunStart) -> RunCounters:
        if self._finished is not None and self._finished[0] is start:
            return self._finished[1]  # the run's peak fd is closed: never the slot's lifetime
        if self._peak_fd is not None:
            peak = int(os.pread(self._peak_fd, 64, 0).decode())
            os.close(self._peak_fd)
            self._peak_fd = None
        else:
            peak = int(_read(self.path / "memory.peak"))
        counters = RunCounters(
            cpu_ns=self.cpu_ns() - start.cpu_ns,
            memory_peak_bytes=max(0, peak - start.memory_baseline_bytes),
            oom_kills=self._oom_kills() - start.oom_kills,
        )
        self._finished = (start, counters)
        return counters

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.rmdir()


@dataclass(frozen=True)
class CgroupLayout:
    """Where this service's slot cgroups live."""

    version: CgroupVersion
    #: v1: controller -> directory holding the slots; v2: {"": directory}.
    parents: dict[str, Path]

    def slot(self, index: int) -> SlotCgroup:
        """The cgroup of slot `index` (not created yet)."""
        name = f"slot-{index}"
        if self.version is CgroupVersion.V1:
            return SlotCgroupV1({c: p / name for c, p in self.parents.items()})
        return SlotCgroupV2(self.parents[""] / name)

    def remove(self) -> None:
        """Remove the service's cgroup directory (after every slot is removed)."""
        for p in self.parents.values():
            with contextlib.suppress(FileNotFoundError, OSError):
                p.rmdir()


def _v1_mounts(mountinfo: str) -> dict[str, Path]:
    """controller -> mount point of each cgroup v1 hierarchy."""
    mounts: dict[str, Path] = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(extra) < 3 or extra[0] != "cgroup":
            continue
        for option in extra[2].split(","):
            mounts.setdefault(option, Path(fields[4]))
    return mounts


def _own_paths(proc_cgroup: str) -> dict[str, str]:
    """controller -> this process's cgroup path ('' key: the v2 path)."""
    out: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def detect(
    parent: str | None,
    name: str,
    proc_root: Path = Path("/proc/self"),
    cgroup_root: Path = CGROUP_ROOT,
) -> CgroupLayout:
    """Find the cgroup hierarchy to use and where this service's slots go.

    v2 is used when the unified hierarchy at cgroup_root carries the memory and pids
    controllers; otherwise v1 with memory, pids and cpuacct mounted.

    Args:
        parent: cgroup path (below each mount) to put `name` under; None = own cgroup.
        name: the directory for this service instance, e.g. "onpyrunner-1234".

    Raises:
        SandboxError: neither hierarchy offers what the sandbox needs; says what is missing.
    """
    own = _own_paths((proc_root / "cgroup").read_text())
    controllers_file = cgroup_root / "cgroup.controllers"
    if controllers_file.exists():
        available = controllers_file.read_text().split()
        missing = [c for c in V2_CONTROLLERS if c not in available]
        if missing:
            raise SandboxError(f"cgroup v2 lacks the controllers: {', '.join(missing)}")
        base = (parent if parent is not None else own.get("", "/")).lstrip("/")
        return CgroupLayout(CgroupVersion.V2, {"": cgroup_root / base / name})
    mounts = _v1_mounts((proc_root / "mountinfo").read_text())
    missing = [c for c in V1_CONTROLLERS if c not in mounts]
    if missing:
        raise SandboxError(
            "no usable cgroups: cgroup v2 is not mounted at "
            f"{cgroup_root} and cgroup v1 lacks the controllers: {', '.join(missing)}"
        )
    parents = {}
    for c in V1_CONTROLLERS:
        base = (parent if parent is not None else own.get(c, "/")).lstrip("/")
        parents[c] = mounts[c] / base / name
    return CgroupLayout(CgroupVersion.V1, parents)


def prepare_v2_parent(layout: CgroupLayout, cgroup_root: Path = CGROUP_ROOT) -> None:
    """Enable memory, pids and cpu on every cgroup from the mount root down to the slots.

    Raises:
        SandboxError: a cgroup on the way holds processes (v2 forbids controllers there)
            or is not writable; the message names it.
    """
    target = layout.parents[""]
    target.mkdir(parents=True, exist_ok=True)
    wanted = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    d = cgroup_root
    for part in (*target.relative_to(cgroup_root).parts, None):
        try:
            _write(d / "cgroup.subtree_control", wanted)
        except OSError as e:
            raise SandboxError(
                f"cannot enable {wanted} in {d}: {e.strerror}. On cgroup v2 the service needs "
                "a delegated cgroup holding no processes itself; set ONPYRUNNER_CGROUP_PARENT"
            ) from e
        if part is not None:
            d = d / part

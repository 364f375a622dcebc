"""cgroups for sandbox slots: whole-tree limits and kernel accounting, v1 and v2.

Each sandbox slot owns one long-lived cgroup (one per controller on v1). The slot's
launcher process is moved into it once, at start; every nsjail it starts, and every
process of every run, is then born inside the cgroup. On v1 nothing is attached per run,
which matters: attaching a process to a cgroup waits for an RCU grace period (7-20 ms
here). On v2 each sandbox's init is moved into a fresh leaf for its run while it waits for
its go, off the run's path (SlotCgroupV2 says why).

Per run, the service sets the limits, notes the counters, and reads them back at the end:
CPU time of the whole tree (cpuacct / cpu.stat), peak memory (max_usage_in_bytes reset at
the start of the run / the run leaf's memory.peak), and the kernel's OOM-kill counter.

Under systemd on v2 (a service with Delegate=yes) the service's own cgroup is a leaf that
holds its processes; v2 allows no process beside children with controllers, so the
service first moves its processes into a leaf of its own, `service`, and puts its slots
beside it (`detect` and `prepare_v2_parent`).
"""

from __future__ import annotations

import contextlib
import errno
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
#: v2: the leaf the service's own processes move into, beside the slots.
SERVICE_LEAF = "service"
#: How many times the processes of the service's cgroup are moved before giving up (a
#: process forked meanwhile is born where its parent was, and is moved the next time).
VACATE_ROUNDS = 20
#: The extended attributes systemd sets on a cgroup it delegates (Delegate=yes).
DELEGATE_XATTRS = ("trusted.delegate", "user.delegate")


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
    #: v1: the page cache charged to the slot that no process maps (see SlotCgroupV1),
    #: and the memory the run may have on top of what the slot's processes hold.
    cache_bytes: int = 0
    room_bytes: int = 0


@dataclass(frozen=True)
class RunCounters:
    """What the kernel counted for one run."""

    cpu_ns: int
    #: None when the kernel has no peak to give (cgroup v2 before Linux 5.19).
    memory_peak_bytes: int | None
    oom_kills: int


#: Larger than any cgroup file this module reads (memory.stat is about 1.5 KiB).
_READ_MAX = 1 << 16


def _read(path: Path | str) -> str:
    # os-level, not pathlib's text files: a run reads and writes about fifteen of these, on
    # every job's path.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, _READ_MAX).decode()
    finally:
        os.close(fd)


def _write(path: Path | str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _kv(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.lstrip("-").isdigit():  # not int() in a try: twice as fast, every run
            out[key] = int(value)
    return out


class _OpenFiles:
    """The control files a slot reads and writes on every run, each opened once and then
    read with one pread and written with one write (not open, read or write, close: about
    7 us less each, some twenty times a run). Closed when the slot's cgroup goes."""

    def __init__(self) -> None:
        self._fds: dict[tuple[str, int], int] = {}

    def _fd(self, path: str, flags: int) -> int:
        fd = self._fds.get((path, flags))
        if fd is None:
            fd = self._fds[(path, flags)] = os.open(path, flags | os.O_CLOEXEC)
        return fd

    def read(self, path: str) -> str:
        return os.pread(self._fd(path, os.O_RDONLY), _READ_MAX, 0).decode()

    def write(self, path: str, value: str) -> None:
        os.write(self._fd(path, os.O_WRONLY), value.encode())

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)


class SlotCgroup(ABC):
    """The cgroup(s) of one sandbox slot."""

    #: Whether each sandbox's init must be adopted (moved into its run's cgroup) before
    #: its run: v2. On v1 every run is counted in the slot's own cgroup.
    adopts_sandboxes = False
    #: Processes counted against a run's pids limit that are not the program's.
    overhead_processes = 3  # launcher, nsjail, init

    @abstractmethod
    def create(self) -> None:
        """Make the cgroup directories."""

    @abstractmethod
    def attach(self, pid: int) -> None:
        """Move a process (the slot's launcher) in. Done once per slot."""

    @abstractmethod
    def procs(self) -> list[int]:
        """Every process in the slot."""

    def adopt(self, pid: int) -> None:
        """Give the sandbox whose init is `pid` the cgroup of its run (see SlotCgroupV2);
        called while the init waits for its go. Nothing to do on v1."""
        del pid  # v1: every run is counted in the slot's own cgroup

    @abstractmethod
    def set_limits(self, memory_bytes: int, max_processes: int) -> RunStart:
        """Set this run's limits (`max_processes`: the program's) and note the counters.

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
        """Counters of the run that started at `start`."""

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
        self._memsw_path = self.memory / "memory.memsw.limit_in_bytes"
        self._memsw = str(self._memsw_path)
        self._has_memsw: bool | None = None  # known once the slot's cgroup exists
        # The files every run reads or writes, as strings once (not a Path built each time).
        self._usage = str(self.memory / "memory.usage_in_bytes")
        self._stat = str(self.memory / "memory.stat")
        self._limit = str(self.memory / "memory.limit_in_bytes")
        self._peak = str(self.memory / "memory.max_usage_in_bytes")
        self._oom = str(self.memory / "memory.oom_control")
        self._pids_max = str(dirs["pids"] / "pids.max")
        self._cpu = str(dirs["cpuacct"] / "cpuacct.usage")
        self._files = _OpenFiles()

    def create(self) -> None:
        self._files.close()
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)

    def attach(self, pid: int) -> None:
        for d in self.dirs.values():
            _write(d / "cgroup.procs", str(pid))

    def procs(self) -> list[int]:
        text = _read(self.dirs["pids"] / "cgroup.procs")
        return [int(p) for p in text.split()]

    def _usage_and_cache(self) -> tuple[int, int]:
        """The slot's usage, and the page cache in it that no process maps (files that
        earlier runs read: charged to the slot, they outlive the runs)."""
        usage = int(self._files.read(self._usage))
        stat = _kv(self._files.read(self._stat))
        files = stat.get("total_active_file", 0) + stat.get("total_inactive_file", 0)
        return usage, max(0, min(usage, files - stat.get("total_mapped_file", 0)))

    def _cap(self, memory_bytes: int, pids_max: int, for_run: bool = True) -> tuple[int, int]:
        """Memory at what the slot's processes hold + memory_bytes, processes at pids_max;
        the usage and the unmapped cache as the run starts.

        Not usage + memory_bytes: the usage counts the unmapped cache, which the kernel
        reclaims to make room, so a program had memory_bytes plus all of it (seen: numpy
        filled 400 MB under a 128 MiB limit, once the slot had read enough files). What
        is mapped (the libraries of the init and of a warm interpreter) is held.
        """
        if for_run:
            usage, cache = self._usage_and_cache()
        else:  # between runs only trusted code runs: the cache may stay in the room
            usage, cache = int(self._files.read(self._usage)), 0
        limit = usage - cache + memory_bytes
        if self._has_memsw is None:
            self._has_memsw = self._memsw_path.exists()
        has_memsw = self._has_memsw
        if has_memsw:  # memsw must stay >= limit: lift it, set the limit, then pin it.
            self._files.write(self._memsw, "-1")
        try:
            self._files.write(self._limit, str(limit))
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
            # Below the usage, and the kernel could not reclaim the cache above it (in
            # use): the limit is the usage, and the run has no room beyond it.
            limit = int(self._files.read(self._usage))
            self._files.write(self._limit, str(limit))
        if has_memsw:
            self._files.write(self._memsw, str(limit))
        self._files.write(self._pids_max, str(pids_max))
        if limit < usage:  # the kernel reclaimed cache to fit: read again
            usage, cache = self._usage_and_cache()
        return usage, cache

    def set_limits(self, memory_bytes: int, max_processes: int) -> RunStart:
        usage, cache = self._cap(memory_bytes, max_processes + self.overhead_processes)
        self._files.write(self._peak, "0")  # peak := current usage
        return RunStart(
            cpu_ns=self.cpu_ns(),
            oom_kills=self._oom_kills(),
            memory_baseline_bytes=usage,
            cache_bytes=cache,
            room_bytes=memory_bytes,
        )

    def relax(self, memory_bytes: int, pids_max: int) -> None:
        self._cap(memory_bytes, pids_max, for_run=False)

    def cpu_ns(self) -> int:
        return int(self._files.read(self._cpu))

    def _oom_kills(self) -> int:
        return _kv(self._files.read(self._oom)).get("oom_kill", 0)

    def finish(self, start: RunStart) -> RunCounters:
        peak = int(self._files.read(self._peak))
        # The cache the run found is in its starting usage; what of it the run's growth
        # pushed out made room for the run, and is the run's memory too.
        # (A cached file that a process mapped meanwhile looks pushed out: never more than
        # the room, which the limit kept the run within.)
        pushed_out = max(0, start.cache_bytes - self._usage_and_cache()[1])
        return RunCounters(
            cpu_ns=self.cpu_ns() - start.cpu_ns,
            memory_peak_bytes=min(
                max(0, peak - start.memory_baseline_bytes) + pushed_out, start.room_bytes
            ),
            oom_kills=self._oom_kills() - start.oom_kills,
        )

    def remove(self) -> None:
        self._files.close()
        for d in self.dirs.values():
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()


class SlotCgroupV2(SlotCgroup):
    """A slot on cgroup v2: a directory with memory, pids and cpu enabled for its children,
    `jail` (a leaf: the launcher and its nsjail) and one fresh leaf per run, `run-N`.

    memory.peak cannot be reset before Linux 6.12, so a cgroup that outlives a run cannot
    say what that run's peak was. Each sandbox's init is therefore moved, while it waits
    for its go (before any run is given to it), into a leaf made for that run alone; the
    program and everything it starts are born there. The run's peak, CPU time and OOM kills
    are that leaf's own, whatever the kernel. v2 forbids processes in a cgroup whose
    children have controllers, so the launcher lives in its own leaf beside the runs.
    """

    adopts_sandboxes = True
    overhead_processes = 1  # the init, in the run's leaf beside the program

    def __init__(self, path: Path) -> None:
        self.path = path
        self.jail = path / "jail"
        #: The leaf of the run whose init was adopted last.
        self.run: Path | None = None
        self._runs = 0

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _write(self.path / "cgroup.subtree_control", " ".join(f"+{c}" for c in V2_CONTROLLERS))
        self.jail.mkdir(exist_ok=True)

    def attach(self, pid: int) -> None:
        _write(self.jail / "cgroup.procs", str(pid))

    def adopt(self, pid: int) -> None:
        self._runs += 1
        leaf = self.path / f"run-{self._runs}"
        leaf.mkdir()
        try:
            _write(leaf / "cgroup.procs", str(pid))
        except OSError:
            with contextlib.suppress(OSError):
                leaf.rmdir()
            raise
        self.run = leaf
        self._adopt_family(pid, leaf)
        self._remove_runs(keep=leaf)

    def _adopt_family(self, init: int, leaf: Path) -> None:
        """Move what the init started before its READY (warm start's interpreter) with it:
        every process of the sandbox runs in the run's leaf."""
        family = {init}
        for _ in range(VACATE_ROUNDS):
            found = [p for p in _procs(self.jail) if p not in family and _parent(p) in family]
            if not found:
                return
            for p in found:
                with contextlib.suppress(ProcessLookupError):
                    _write(leaf / "cgroup.procs", str(p))
                family.add(p)

    def _leaves(self) -> list[Path]:
        try:
            return [d for d in self.path.iterdir() if d.is_dir() and d.name.startswith("run-")]
        except FileNotFoundError:
            return []

    def _remove_runs(self, keep: Path | None = None) -> None:
        """Remove the leaves of runs that are over (an occupied one stays for next time)."""
        for leaf in self._leaves():
            if leaf != keep:
                with contextlib.suppress(OSError):
                    leaf.rmdir()

    def procs(self) -> list[int]:
        pids: list[int] = []
        for d in (self.path, self.jail, *self._leaves()):
            with contextlib.suppress(FileNotFoundError):
                pids.extend(int(p) for p in _read(d / "cgroup.procs").split())
        return pids

    def _leaf(self) -> Path:
        if self.run is None:
            raise SandboxError("no sandbox of this slot has been given its run cgroup")
        return self.run

    def set_limits(self, memory_bytes: int, max_processes: int) -> RunStart:
        leaf = self._leaf()
        current = int(_read(leaf / "memory.current"))
        _write(leaf / "memory.max", str(current + memory_bytes))
        with contextlib.suppress(FileNotFoundError):
            _write(leaf / "memory.swap.max", "0")
        _write(leaf / "pids.max", str(max_processes + self.overhead_processes))
        return RunStart(
            cpu_ns=self.cpu_ns(), oom_kills=self._oom_kills(), memory_baseline_bytes=current
        )

    def relax(self, memory_bytes: int, pids_max: int) -> None:
        current = int(_read(self.path / "memory.current"))
        _write(self.path / "memory.max", str(current + memory_bytes))
        _write(self.path / "pids.max", str(pids_max))

    def cpu_ns(self) -> int:
        return _kv(_read(self._leaf() / "cpu.stat")).get("usage_usec", 0) * 1000

    def _oom_kills(self) -> int:
        return _kv(_read(self._leaf() / "memory.events")).get("oom_kill", 0)

    def finish(self, start: RunStart) -> RunCounters:
        leaf = self._leaf()
        try:  # the leaf's whole life is this run's: its peak is the run's peak
            peak: int | None = int(_read(leaf / "memory.peak"))
        except FileNotFoundError:  # before Linux 5.19: the caller uses the init's maxrss
            peak = None
        return RunCounters(
            cpu_ns=self.cpu_ns() - start.cpu_ns,
            memory_peak_bytes=None if peak is None else max(0, peak - start.memory_baseline_bytes),
            oom_kills=self._oom_kills() - start.oom_kills,
        )

    def remove(self) -> None:
        self._remove_runs()
        for d in (self.jail, self.path):
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()


@dataclass(frozen=True)
class CgroupLayout:
    """Where this service's slot cgroups live."""

    version: CgroupVersion
    #: v1: controller -> directory holding the slots; v2: {"": directory}.
    parents: dict[str, Path]
    #: v2: the service's own cgroup, when its processes must first move into its leaf
    #: SERVICE_LEAF so that the slots can be made beside it.
    vacate: Path | None = None

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
            raise SandboxError(
                f"cgroup v2 lacks the controllers: {', '.join(missing)} (the kernel has them "
                "off: look for cgroup_disable= on its command line, /proc/cmdline)"
            )
        if parent is not None:
            return CgroupLayout(CgroupVersion.V2, {"": cgroup_root / parent.lstrip("/") / name})
        own_dir = cgroup_root / own.get("", "/").lstrip("/")
        if own_dir.name == SERVICE_LEAF:  # moved already (by this process or its parent)
            return CgroupLayout(CgroupVersion.V2, {"": own_dir.parent / name})
        # The root cgroup may hold processes beside children with controllers; any other
        # (a cgroup namespace's root too: it has a cgroup.type) must be emptied first.
        vacate = own_dir if (own_dir / "cgroup.type").exists() else None
        return CgroupLayout(CgroupVersion.V2, {"": own_dir / name}, vacate)
    mounts = _v1_mounts((proc_root / "mountinfo").read_text())
    missing = [c for c in V1_CONTROLLERS if c not in mounts]
    if missing:
        raise SandboxError(
            "no usable cgroups: cgroup v2 is not mounted at "
            f"{cgroup_root} and cgroup v1 lacks the controllers: {', '.join(missing)}. Mount "
            "them (a v1 boot of systemd does), or boot with cgroup v2 only "
            "(systemd.unified_cgroup_hierarchy=1 on the kernel's command line)"
        )
    parents = {}
    for c in V1_CONTROLLERS:
        base = (parent if parent is not None else own.get(c, "/")).lstrip("/")
        parents[c] = mounts[c] / base / name
    return CgroupLayout(CgroupVersion.V1, parents)


def _delegated(path: Path) -> bool:
    """Whether systemd delegated this cgroup (Delegate=yes marks it with an xattr)."""
    for name in DELEGATE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(path, name).strip() == b"1":
                return True
    return False


def _procs(path: Path) -> list[int]:
    return [int(p) for p in _read(path / "cgroup.procs").split()]


def _parent(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    """The parent of a process (None when it is gone)."""
    try:
        stat = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def vacate(own: Path, self_pid: int | None = None) -> None:
    """Move the processes of the service's cgroup `own` into its leaf SERVICE_LEAF.

    Only this process's own cgroup is touched, and other processes in it are moved only
    when systemd delegated it (then every process in it is the service's).

    Raises:
        SandboxError: it holds other processes and is not delegated, or they cannot be
            moved; the message says how to run the service instead.
    """
    me = os.getpid() if self_pid is None else self_pid
    others = [p for p in _procs(own) if p != me]
    if others and not _delegated(own):
        raise SandboxError(
            f"cgroup v2: this process's cgroup {own} holds other processes too "
            f"({', '.join(map(str, others[:5]))}{', ...' if len(others) > 5 else ''}), and v2 "
            "allows no process beside the sandbox cgroups. Run the service under systemd "
            "with Delegate=yes (onpyrunner install-systemd, see docs/deployment.md), or in a "
            "cgroup of its own (`systemd-run --scope -p Delegate=yes onpyrunner ...`), or set "
            "ONPYRUNNER_CGROUP_PARENT to an empty cgroup with memory, pids and cpu available"
        )
    leaf = own / SERVICE_LEAF
    try:
        leaf.mkdir(exist_ok=True)
        for _ in range(VACATE_ROUNDS):
            pids = _procs(own)
            if not pids:
                return
            for pid in pids:
                try:
                    _write(leaf / "cgroup.procs", str(pid))
                except ProcessLookupError:
                    pass  # it ended meanwhile
    except OSError as e:
        raise SandboxError(
            f"cgroup v2: cannot move the service's processes from {own} into {leaf}: {e.strerror}"
        ) from e
    raise SandboxError(f"cgroup v2: {own} kept gaining processes; cannot empty it")


def prepare_v2_parent(layout: CgroupLayout, cgroup_root: Path = CGROUP_ROOT) -> None:
    """Enable memory, pids and cpu on every cgroup from the mount root down to the slots,
    after moving the service's processes into their own leaf when they are in the way.

    Raises:
        SandboxError: a cgroup on the way holds processes (v2 forbids controllers there)
            or is not writable; the message names it and the fix.
    """
    if layout.vacate is not None:
        vacate(layout.vacate)
    target = layout.parents[""]
    target.mkdir(parents=True, exist_ok=True)
    wanted = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    d = cgroup_root
    for part in (*target.relative_to(cgroup_root).parts, None):
        try:
            _write(d / "cgroup.subtree_control", wanted)
        except OSError as e:
            busy = " (it holds processes)" if e.errno == errno.EBUSY else ""
            raise SandboxError(
                f"cgroup v2: cannot enable {wanted} in {d}: {e.strerror}{busy}. The service "
                "needs a cgroup delegated to it: run it under systemd with Delegate=yes "
                "(onpyrunner install-systemd, see docs/deployment.md), or set "
                "ONPYRUNNER_CGROUP_PARENT to an empty cgroup with memory, pids and cpu available"
            ) from e
        if part is not None:
            d = d / part

"""Prometheus metrics, in a registry of their own (one per app or worker process)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from onpyrunner.queue.store import Backlog, QueueStats

_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _LabelledCounts(Collector):
    """A counter family read at scrape time from a dict of label value -> count that the
    sandbox keeps (the sandbox knows nothing of Prometheus)."""

    def __init__(self, name: str, documentation: str, label: str, counts: dict[str, int]):
        self.name = name
        self.documentation = documentation
        self.label = label
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, count in sorted(self.counts.items()):
            family.add_metric([value], count)
        yield family


class Metrics:
    """The service's metrics. The API counts submissions; the process that runs a job
    counts its end and observes its durations; queue figures are read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.submitted = Counter(
            "onpyrunner_jobs_submitted", "Jobs accepted by the API", registry=r
        )
        self.finished = Counter(
            "onpyrunner_jobs_finished",
            "Jobs ended, by status and outcome (or verdict)",
            ["status", "outcome"],
            registry=r,
        )
        self.queue_depth = Gauge("onpyrunner_queue_depth", "Jobs waiting for a worker", registry=r)
        self.running = Gauge("onpyrunner_jobs_running", "Jobs being run by workers", registry=r)
        self.workers_alive = Gauge(
            "onpyrunner_workers_alive", "Workers heard from recently", registry=r
        )
        self.run_duration = Histogram(
            "onpyrunner_run_duration_seconds",
            "From run start to run end",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        # The history writer's own counts (exported by watch_history).
        self.history_drops: dict[str, int] = {"backlog_full": 0, "expired": 0}
        self.history_written = Counter(
            "onpyrunner_history_rows_written",
            "History rows this process wrote (a job written again after a redelivery is not "
            "counted twice)",
            registry=r,
        )
        self.history_write_failures = Counter(
            "onpyrunner_history_write_failures",
            "Attempts of this process to write a batch of history rows that failed (the "
            "database unavailable); the batch is tried again",
            registry=r,
        )
        self.queue_wait = Histogram(
            "onpyrunner_queue_wait_seconds",
            "From submission to pick-up by a worker",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )

    def watch_history(self) -> None:
        """Export the history's metrics (a process that keeps the history)."""
        r = self.registry
        self.history_backlog = Gauge(
            "onpyrunner_history_backlog",
            "Ended jobs waiting to be written to the history (all API processes' outbox)",
            registry=r,
        )
        self.history_lag = Gauge(
            "onpyrunner_history_lag_seconds",
            "Age of the oldest ended job not yet written to the history; 0 when none waits",
            registry=r,
        )
        self.registry.register(
            _LabelledCounts(
                "onpyrunner_history_dropped",
                "Ended jobs that never reached the history: backlog_full (dropped from the "
                "outbox past history_backlog, counted where the outbox is), expired (its record "
                "expired before this process wrote it)",
                "reason",
                self.history_drops,
            )
        )

    def observe_history(self, backlog: Backlog) -> None:
        self.history_backlog.set(backlog.waiting)
        self.history_lag.set(backlog.oldest_age_s)
        self.history_drops["backlog_full"] = backlog.dropped

    def watch_sandbox(self, compile_stats: dict[str, int], rebuilds: dict[str, int]) -> None:
        """Export a sandbox's counters: its compile cache (`Sandbox.compile_stats`) and its
        slot rebuilds by cause (`Sandbox.rebuilds`)."""
        self.registry.register(
            _LabelledCounts(
                "onpyrunner_compile_cache",
                "Compiles served from the cache (hit) or run (miss)",
                "result",
                compile_stats,
            )
        )
        self.registry.register(
            _LabelledCounts(
                "onpyrunner_sandbox_slot_rebuilds",
                "Sandbox slots torn down and rebuilt after a sandbox failed before its "
                "program started, by cause (the run went to a fresh sandbox)",
                "cause",
                rebuilds,
            )
        )

    def observe_queue(self, stats: QueueStats) -> None:
        self.queue_depth.set(stats.pending)
        self.running.set(stats.running)
        self.workers_alive.set(stats.workers_alive)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""The performance score: pure arithmetic on measured runs (the runs: judge/measure.py).

Against a reference, run k of the submission on a case is paired with run k of the
reference (which ran right after it), and each pair gives two ratios, submission over
reference: CPU time and peak memory. A case's ratios are the medians of its pairs' (the
pairing is what interleaving buys: a slow minute slows both runs of a pair, and cancels
out of its ratio). The job's ratio R is the weighted geometric mean of the cases' ratios
(log-ratios averaged over the cases, CPU time and memory by their weights), and the score is

    score = 100 / (1 + R)

50 when the submission costs what the reference costs, 33.3 at twice the cost, 66.7 at
half, 9.1 at ten times; always strictly between 0 and 100, and falling as any ratio rises.
It is the reference's share of the two programs' combined cost.

Against the limits (no reference), a case's ratios are its median CPU time over
cpu_time_ms and its median memory over memory_mb; R is their weighted mean over the cases,
the share of the limits used, and the score is the headroom left: 100 x (1 - R), 0 at the
limits.

Every figure is floored at its unit (1 ms, 1 KiB) so a ratio never divides by zero.
The noise next to the score: each case's ratio ranges are the lowest and highest of its
per-run ratios; `ratio_range` combines the cases' lowest ratios and their highest ones, and
`score_range` is the scores of those two: the score every run at its best would get, and
every run at its worst. The score is always within it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from onpyrunner.limits import Limits
from onpyrunner.models import (
    CasePerformance,
    Figures,
    Performance,
    PerformanceBasis,
    Unscored,
    Usage,
    Weights,
)

#: (CPU time, memory): of a submission over its baseline.
Ratios = tuple[float, float]


@dataclass(frozen=True)
class CaseRuns:
    """The usage of every performance run of one case, in run order: the submission's,
    and the reference's (empty for the limits basis), run k of each side by side."""

    case: int
    name: str | None
    submission: Sequence[Usage]
    reference: Sequence[Usage] = ()


def _floored(value: float) -> float:
    return max(float(value), 1.0)


def _round(value: float) -> float:
    """Four significant digits: ratios span from 0.0001 (a share of the limits) to 1000."""
    return float(f"{value:.4g}")


def normalized(weights: Weights) -> tuple[float, float]:
    """The CPU time and memory weights, summing to 1.

    Raises:
        ValueError: both weights are 0.
    """
    top = max(weights.cpu_time, weights.memory)
    if top <= 0:
        raise ValueError("at least one weight must be above 0")
    # relative to the larger first: two huge finite weights would sum to inf
    cpu, memory = weights.cpu_time / top, weights.memory / top
    return cpu / (cpu + memory), memory / (cpu + memory)


def medians(runs: Sequence[Usage]) -> Figures:
    """The median CPU time and peak memory of some runs."""
    return Figures(
        cpu_time_ms=statistics.median(u.cpu_time_ms for u in runs),
        memory_kb=statistics.median(u.memory_kb for u in runs),
    )


def figures(usage: Usage) -> Figures:
    """The figures of one run."""
    return Figures(cpu_time_ms=usage.cpu_time_ms, memory_kb=usage.memory_kb)


def limit_figures(limits: Limits) -> Figures:
    """The limits basis: what the job's limits allow, in the units of the measurements."""
    return Figures(cpu_time_ms=limits.cpu_time_ms, memory_kb=limits.memory_mb * 1024)


def ratios(used: Figures, baseline: Figures) -> Ratios:
    """CPU time and memory of used over baseline, each floored at its unit."""
    return (
        _floored(used.cpu_time_ms) / _floored(baseline.cpu_time_ms),
        _floored(used.memory_kb) / _floored(baseline.memory_kb),
    )


def reference_ratio(case_ratios: Sequence[Ratios], weights: Weights) -> float:
    """The weighted geometric mean of (CPU time, memory) ratios over the cases."""
    w_cpu, w_memory = normalized(weights)
    logs = [w_cpu * math.log(cpu) + w_memory * math.log(mem) for cpu, mem in case_ratios]
    return math.exp(statistics.fmean(logs))


def reference_score(ratio: float) -> float:
    """0-100 from a combined ratio submission / reference: 50 at 1, falling as it rises."""
    return 100.0 / (1.0 + ratio)


def limits_ratio(case_ratios: Sequence[Ratios], weights: Weights) -> float:
    """The weighted share of the limits used, averaged over the cases."""
    w_cpu, w_memory = normalized(weights)
    return statistics.fmean(w_cpu * cpu + w_memory * mem for cpu, mem in case_ratios)


def limits_score(ratio: float) -> float:
    """0-100 from a weighted share of the limits used: the headroom left."""
    return 100.0 * min(1.0, max(0.0, 1.0 - ratio))


def _combine(
    basis: PerformanceBasis, case_ratios: Sequence[Ratios], weights: Weights
) -> tuple[float, float]:
    """(ratio, score) of some cases' ratios on a basis."""
    if basis is PerformanceBasis.REFERENCE:
        ratio = reference_ratio(case_ratios, weights)
        return ratio, reference_score(ratio)
    ratio = limits_ratio(case_ratios, weights)
    return ratio, limits_score(ratio)


def _span(values: Sequence[float]) -> tuple[float, float]:
    return _round(min(values)), _round(max(values))


def _pairs(r: CaseRuns, basis: PerformanceBasis, limits: Limits | None) -> list[Ratios]:
    """The per-run ratios of one case: run k of the submission over run k of the reference
    (which ran right after it), or over the limits."""
    if basis is PerformanceBasis.LIMITS:
        assert limits is not None
        return [ratios(figures(s), limit_figures(limits)) for s in r.submission]
    if len(r.reference) != len(r.submission):
        raise ValueError(f"case {r.case}: as many reference runs as submission runs")
    return [ratios(figures(s), figures(b)) for s, b in zip(r.submission, r.reference, strict=True)]


def score(
    runs: Sequence[CaseRuns], weights: Weights, repeat: int, limits: Limits | None = None
) -> tuple[float, Performance]:
    """The performance score of measured runs, and its report.

    Args:
        runs: per measured case, the same number (>= 1) of runs on each side.
        limits: the job's limits; used, and only used, when no case has reference runs.

    Raises:
        ValueError: no runs, or a case whose sides differ in number of runs.
    """
    if not runs or any(not r.submission for r in runs):
        raise ValueError("every measured case needs at least one run")
    basis = PerformanceBasis.REFERENCE if runs[0].reference else PerformanceBasis.LIMITS
    if basis is PerformanceBasis.LIMITS and limits is None:
        raise ValueError("the limits basis needs the job's limits")
    cases: list[CasePerformance] = []
    middle: list[Ratios] = []  # per case: the median per-run ratios
    lowest: list[Ratios] = []
    highest: list[Ratios] = []
    for r in runs:
        pairs = _pairs(r, basis, limits)
        cpu = [p[0] for p in pairs]
        memory = [p[1] for p in pairs]
        middle.append((statistics.median(cpu), statistics.median(memory)))
        lowest.append((min(cpu), min(memory)))
        highest.append((max(cpu), max(memory)))
        baseline = medians(r.reference) if r.reference else limit_figures(limits or Limits())
        cases.append(
            CasePerformance(
                case=r.case,
                name=r.name,
                runs=len(r.submission),
                submission=medians(r.submission),
                baseline=baseline,
                cpu_time_ratio=_round(middle[-1][0]),
                memory_ratio=_round(middle[-1][1]),
                cpu_time_ratio_range=_span(cpu),
                memory_ratio_range=_span(memory),
                score=round(_combine(basis, [middle[-1]], weights)[1], 2),
            )
        )
    ratio, final = _combine(basis, middle, weights)
    best_ratio, best = _combine(basis, lowest, weights)
    worst_ratio, worst = _combine(basis, highest, weights)
    report = Performance(
        basis=basis,
        repeat=repeat,
        weights=weights,
        ratio=_round(ratio),
        ratio_range=(_round(best_ratio), _round(worst_ratio)),
        score_range=(round(worst, 2), round(best, 2)),
        cases=cases,
    )
    return round(final, 2), report


def unscored(
    basis: PerformanceBasis, weights: Weights, repeat: int, reason: Unscored, detail: str
) -> Performance:
    """The report of a job that gets no performance score, saying why."""
    return Performance(basis=basis, repeat=repeat, weights=weights, reason=reason, detail=detail)

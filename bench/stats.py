"""Small statistics helpers shared by the benchmarks."""

from __future__ import annotations

import statistics


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(samples_s: list[float]) -> str:
    """'median (p10-p90)' in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    return (
        f"{statistics.median(ms):.2f} ms "
        f"(p10 {percentile(ms, 10):.2f}, p90 {percentile(ms, 90):.2f})"
    )


def median(samples: list[float]) -> float:
    return statistics.median(samples)

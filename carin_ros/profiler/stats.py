"""Latency statistics of timed runs (mean, std, percentiles, throughput)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-inference latencies in milliseconds, and sequential throughput."""

    n: int
    mean_ms: float
    std_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput_fps: float

    @classmethod
    def of(cls, samples_ms: Sequence[float], wall_s: float | None = None) -> LatencyStats:
        """Stats of ``samples_ms``; throughput is runs / ``wall_s`` (default: sum of samples)."""
        x = np.asarray(samples_ms, dtype=np.float64)
        if x.size == 0:
            raise ValueError('no latency samples')
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ValueError('latency samples must be finite and >= 0')
        total = float(x.sum()) / 1e3 if wall_s is None else wall_s
        p50, p90, p99 = (float(v) for v in np.percentile(x, [50, 90, 99]))
        return cls(n=int(x.size), mean_ms=float(x.mean()), std_ms=float(x.std()),
                   p50_ms=p50, p90_ms=p90, p99_ms=p99,
                   throughput_fps=float(x.size / total) if total > 0 else 0.0)

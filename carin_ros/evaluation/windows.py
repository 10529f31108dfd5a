"""Per-window metrics of a scenario run: SLO satisfaction, accuracy, latency, throughput,
reaction times, result gaps around switches and decision times. ROS-free."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from carin_ros.core.profiles import Metric, latency_statistic
from carin_ros.core.slo import APP, Bound, SloSpec


@dataclass(frozen=True)
class ResultRecord:
    """One result as the scenario runner received it; ``t`` in seconds from the start."""

    t: float
    task: str
    design: str
    latency_ms: float


@dataclass(frozen=True)
class SwitchRecord:
    """A switch the manager requested (``t`` from the start) of ``task`` to ``design``."""

    t: float
    task: str
    design: str


@dataclass(frozen=True)
class Window:
    """One task over ``[start, start + length)``."""

    task: str
    start: float
    phase: str
    results: int
    throughput_fps: float
    latency_p90_ms: float      # NaN without results
    latency_bound_ms: float    # the latency SLO in force (NaN: none)
    accuracy: float            # mean profiled accuracy of the designs that served (NaN: none)
    design: str                # the design serving most results ('' without results)
    met: bool                  # every latency/throughput SLO of the task met, with results


@dataclass(frozen=True)
class RunMetrics:
    """What one scenario run of one strategy achieved."""

    windows: tuple[Window, ...]
    met_share: float                       # windows meeting their SLOs
    met_share_by_phase: tuple[tuple[str, float], ...]
    accuracy: float                        # mean over windows with results
    latency_p90_ms: float                  # median of window p90s
    throughput_fps: float                  # mean over windows
    reactions_s: tuple[tuple[str, float | None], ...]  # phase -> first switch after it
    max_switch_gap_s: float | None         # longest result gap within 2 s of a design change
    switches: int
    decision_ms: tuple[float, ...]         # every decision the manager published (wall)
    decision_cpu_ms: tuple[float, ...] = ()  # the same decisions, manager thread CPU time


def latency_bound(spec: SloSpec, task: str) -> tuple[Metric, float] | None:
    """The tightest latency SLO (metric, bound) of ``task`` (its own or the app's)."""
    found = [(c.metric, c.value) for c in spec.constraints
             if c.scope in (task, APP) and c.metric.is_latency and c.bound is Bound.MAX]
    return min(found, key=lambda mv: mv[1]) if found else None


def windows(results: Sequence[ResultRecord], spec_at: Callable[[float], SloSpec],
            phase_at: Callable[[float], str], accuracy: Mapping[str, float],
            duration_s: float, window_s: float) -> tuple[Window, ...]:
    """Cut the run into windows per task of the spec and check each against the SLOs in
    force at the window's start (``spec_at``). A window without results misses its SLOs
    (a gap). ``accuracy`` maps a design key (variant@processor) to its profiled accuracy."""
    if window_s <= 0 or duration_s <= 0:
        raise ValueError('window_s and duration_s must be > 0')
    n = int(math.floor(duration_s / window_s + 1e-9))
    tasks = spec_at(0.0).tasks
    by_task: dict[str, list[ResultRecord]] = {t: [] for t in tasks}
    for r in results:
        if r.task in by_task:
            by_task[r.task].append(r)
    out = []
    for task in tasks:
        rs = sorted(by_task[task], key=lambda r: r.t)
        times = np.array([r.t for r in rs])
        for k in range(n):
            start = k * window_s
            lo, hi = np.searchsorted(times, [start, start + window_s], side='left')
            inside = rs[lo:hi]
            spec = spec_at(start)
            lat = np.array([r.latency_ms for r in inside])
            fps = len(inside) / window_s
            bound = latency_bound(spec, task)
            met = bool(inside)
            p90 = float(np.percentile(lat, 90)) if inside else math.nan
            for c in spec.constraints:
                if c.scope not in (task, APP) or not met:
                    continue
                if c.metric.is_latency:
                    met = c.satisfied(latency_statistic(lat, c.metric))
                elif c.metric is Metric.THROUGHPUT and c.scope == task:
                    met = c.satisfied(fps)
            accs = [accuracy[r.design] for r in inside if r.design in accuracy]
            designs = [r.design for r in inside]
            out.append(Window(task, start, phase_at(start), len(inside), fps, p90,
                              bound[1] if bound else math.nan,
                              float(np.mean(accs)) if accs else math.nan,
                              max(set(designs), key=designs.count) if designs else '', met))
    return tuple(out)


def reactions(switches: Sequence[SwitchRecord], starts: Sequence[tuple[str, float]],
              until: Sequence[float]) -> tuple[tuple[str, float | None], ...]:
    """Per disturbance (name, start): seconds to the first switch requested after it and
    before ``until`` (the next phase), None when none was."""
    out = []
    for (name, t0), t1 in zip(starts, until, strict=True):
        after = [s.t - t0 for s in switches if t0 <= s.t < t1]
        out.append((name, min(after) if after else None))
    return tuple(out)


def max_switch_gap(results: Sequence[ResultRecord], around_s: float = 2.0) -> float | None:
    """Longest interval between consecutive results of a task within ``around_s`` of a change
    of the design serving it; None when no design changed."""
    best: float | None = None
    for task in dict.fromkeys(r.task for r in results):
        rs = sorted((r for r in results if r.task == task), key=lambda r: r.t)
        changes = [b.t for a, b in zip(rs, rs[1:], strict=False) if a.design != b.design]
        for a, b in zip(rs, rs[1:], strict=False):
            if any(abs(b.t - c) <= around_s for c in changes):
                gap = b.t - a.t
                best = gap if best is None else max(best, gap)
    return best


def summarise_run(ws: Sequence[Window], switches: Sequence[SwitchRecord],
                  results: Sequence[ResultRecord], disturbances: Sequence[tuple[str, float]],
                  duration_s: float, decision_ms: Sequence[float],
                  decision_cpu_ms: Sequence[float] = ()) -> RunMetrics:
    """The run's figures from its windows, switch requests and results."""
    if not ws:
        raise ValueError('no windows')
    phases = list(dict.fromkeys(w.phase for w in ws))
    by_phase = tuple((p, float(np.mean([w.met for w in ws if w.phase == p]))) for p in phases)
    accs = [w.accuracy for w in ws if not math.isnan(w.accuracy)]
    p90s = [w.latency_p90_ms for w in ws if not math.isnan(w.latency_p90_ms)]
    ends = [t for _, t in disturbances[1:]] + [duration_s]
    return RunMetrics(tuple(ws), float(np.mean([w.met for w in ws])), by_phase,
                      float(np.mean(accs)) if accs else math.nan,
                      float(np.median(p90s)) if p90s else math.nan,
                      float(np.mean([w.throughput_fps for w in ws])),
                      reactions(switches, disturbances, ends), max_switch_gap(results),
                      len(switches), tuple(decision_ms),
                      tuple(c for c in decision_cpu_ms if not math.isnan(c)))

"""Measure one design (or a co-running pair) in fresh processes: latency, memory, accuracy."""
from __future__ import annotations

import multiprocessing as mp
import os
import resource
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import psutil

from carin_ros.core.space import Design, Processor
from carin_ros.engine.runner import Pipeline
from carin_ros.engine.session import repin_current_thread
from carin_ros.profiler.source import Accuracy, SourceSpec
from carin_ros.profiler.stats import LatencyStats


class ProfileRunError(RuntimeError):
    """A measurement child failed, crashed or timed out; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """How much to measure. ``samples`` distinct real inputs are cycled through the runs.

    Each co-run phase lasts at least ``corun_runs`` runs and ``corun_min_s`` seconds, so that
    two processes sharing a core are measured over many scheduler time slices.
    """

    warmup: int = 10
    runs: int = 100
    samples: int = 16
    corun_runs: int = 60
    corun_min_s: float = 2.0
    timeout_s: float = 900.0

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1 or self.samples < 1 or self.corun_runs < 1 \
                or self.corun_min_s < 0:
            raise ValueError(f'profiler settings out of range: {self}')
        if self.timeout_s <= 0:
            raise ValueError('profiler timeout_s must be > 0')

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = '<settings>') -> Settings:
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f'{source}: unknown profiler settings {sorted(unknown)} '
                             f'(known: {sorted(known)})')
        values: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f'{source}: {key} must be a number, got {value!r}')
            values[key] = float(value) if key.endswith('_s') else int(value)
        try:
            return cls(**values)
        except ValueError as exc:
            raise ValueError(f'{source}: {exc}') from exc

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class DesignMeasurement:
    """What one fresh process measured for one design."""

    design: Design
    latency: LatencyStats
    memory_mb: float
    size_mb: float
    load_ms: float
    accuracy: Accuracy | None


@dataclass(frozen=True)
class CoRunMeasurement:
    """Latency of each side alone and while the other runs, measured in the same pair."""

    a: Design
    b: Design
    alone_a: LatencyStats
    alone_b: LatencyStats
    together_a: LatencyStats
    together_b: LatencyStats

    @property
    def slowdown_a(self) -> float:
        return self.together_a.mean_ms / self.alone_a.mean_ms

    @property
    def slowdown_b(self) -> float:
        return self.together_b.mean_ms / self.alone_b.mean_ms


def timed_runs(pipeline: Pipeline, samples: Sequence[Any], n: int,
               min_s: float = 0.0) -> list[float]:
    """Latencies (ms) of sequential calls cycling through ``samples``: ``n`` calls at least,
    and more until ``min_s`` seconds have passed."""
    out = []
    clock = time.perf_counter
    start = clock()
    i = 0
    while i < n or clock() - start < min_s:
        sample = samples[i % len(samples)]
        t0 = clock()
        pipeline(sample)
        out.append((clock() - t0) * 1e3)
        i += 1
    return out


class _PeakRss:
    """Samples the process RSS every few milliseconds on a thread; keeps the peak."""

    def __init__(self, period_s: float = 0.003) -> None:
        self._proc = psutil.Process()
        self._period = period_s
        self._stop = threading.Event()
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def _max_rss() -> int:
    """The process's high-water RSS in bytes (Linux reports KiB, macOS bytes)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if os.uname().sysname == 'Darwin' else value * 1024


def measure_design(spec: SourceSpec, design: Design, processor: Processor, settings: Settings,
                   with_accuracy: bool) -> DesignMeasurement:
    """Measure ``design`` in this process (call it in a fresh one: see :func:`isolated`).

    Memory is the peak RSS while loading, warming up and running, minus the RSS just before
    loading (after the source, runtime and sample inputs were imported and prepared).
    """
    source = spec.build()
    samples = source.samples(design.task, settings.samples)
    if not samples:
        raise ProfileRunError(f'{design.task}: the source gave no sample inputs')
    size_mb = source.size_mb(design.task, design.variant)
    repin_current_thread(processor)
    base_rss = psutil.Process().memory_info().rss
    base_max = _max_rss()
    with _PeakRss() as peak:
        t0 = time.perf_counter()
        pipeline = source.load(design.task, design.variant, processor)
        load_ms = (time.perf_counter() - t0) * 1e3
        for i in range(settings.warmup):
            pipeline(samples[i % len(samples)])
        start = time.perf_counter()
        lat = timed_runs(pipeline, samples, settings.runs)
        wall = time.perf_counter() - start
    high = _max_rss()
    peak_bytes = max(peak.peak, high if high > base_max else 0)
    pipeline.close()
    accuracy = source.accuracy(design.task, design.variant, processor) if with_accuracy else None
    return DesignMeasurement(design, LatencyStats.of(lat, wall), max(0, peak_bytes - base_rss)
                             / 2**20, size_mb, load_ms, accuracy)


def _corun_side(spec: SourceSpec, design: Design, processor: Processor, settings: Settings,
                order: int, barrier: Any, finished: Any) -> tuple[LatencyStats, LatencyStats]:
    wait = settings.timeout_s
    source = spec.build()
    samples = source.samples(design.task, settings.samples)
    repin_current_thread(processor)
    pipeline = source.load(design.task, design.variant, processor)
    for i in range(settings.warmup):
        pipeline(samples[i % len(samples)])
    barrier.wait(wait)                     # both loaded and warm
    alone: list[float] = []
    for phase in (0, 1):                   # each side alone while the other waits
        if phase == order:
            alone = timed_runs(pipeline, samples, settings.corun_runs, settings.corun_min_s)
        barrier.wait(wait)
    together: list[float] = []
    counted = False
    i = 0
    start = time.perf_counter()
    # Keep running (untimed) after our own runs until the other side has its runs too, so
    # every timed run overlaps the other side's work.
    while True:
        t0 = time.perf_counter()
        pipeline(samples[i % len(samples)])
        t1 = time.perf_counter()
        i += 1
        if not counted and (len(together) < settings.corun_runs
                            or t0 - start < settings.corun_min_s):
            together.append((t1 - t0) * 1e3)
        elif not counted:
            with finished.get_lock():
                finished.value += 1
            counted = True
        if finished.value >= 2:
            break
    barrier.wait(wait)
    pipeline.close()
    return LatencyStats.of(alone), LatencyStats.of(together)


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
    except BaseException as exc:  # everything goes back to the parent as text
        conn.send(('error', f'{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}'))
    else:
        conn.send(('ok', result))
    conn.close()


def _start(ctx: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, Any]:
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args), daemon=True)
    proc.start()
    send.close()
    return proc, recv


def _collect(proc: Any, recv: Any, deadline: float, what: str) -> Any:
    try:
        if not recv.poll(max(0.0, deadline - time.monotonic())):
            proc.kill()
            proc.join(5)
            raise ProfileRunError(f'{what}: timed out')
        status, payload = recv.recv()
    except (EOFError, OSError) as exc:
        proc.join(5)
        raise ProfileRunError(f'{what}: measuring process died (exit code {proc.exitcode})') \
            from exc
    finally:
        recv.close()
    proc.join(10)
    if status != 'ok':
        raise ProfileRunError(f'{what}: {payload}')
    return payload


def isolated(fn: Callable[..., Any], *args: Any, timeout_s: float, what: str) -> Any:
    """Run ``fn(*args)`` in a fresh spawned process; its result, or ProfileRunError."""
    ctx = mp.get_context('spawn')
    proc, recv = _start(ctx, fn, args)
    return _collect(proc, recv, time.monotonic() + timeout_s, what)


def measure_design_isolated(spec: SourceSpec, design: Design, processor: Processor,
                            settings: Settings, with_accuracy: bool) -> DesignMeasurement:
    return isolated(measure_design, spec, design, processor, settings, with_accuracy,
                    timeout_s=settings.timeout_s, what=f'design {design.task}/{design.key}')


def measure_corun(spec: SourceSpec, a: tuple[Design, Processor], b: tuple[Design, Processor],
                  settings: Settings) -> CoRunMeasurement:
    """Run ``a`` and ``b`` in two fresh processes: each alone, then both at once."""
    ctx = mp.get_context('spawn')
    barrier = ctx.Barrier(2)
    finished = ctx.Value('i', 0)
    what = f'co-run {a[0].task}/{a[0].key} + {b[0].task}/{b[0].key}'
    procs = [_start(ctx, _corun_side, (spec, d, p, settings, order, barrier, finished))
             for order, (d, p) in enumerate((a, b))]
    deadline = time.monotonic() + settings.timeout_s
    results = []
    try:
        for proc, recv in procs:
            results.append(_collect(proc, recv, deadline, what))
    except ProfileRunError:
        barrier.abort()  # let the other side fail fast instead of waiting at the barrier
        for proc, _ in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        raise
    (alone_a, together_a), (alone_b, together_b) = results
    return CoRunMeasurement(a[0], b[0], alone_a, alone_b, together_a, together_b)

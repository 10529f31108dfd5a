"""Synthetic profile databases with realistic trade-offs, for tests, benchmarks and examples.

Not measurements: a seeded generator whose variants trade accuracy for latency the way real
model families do (bigger architecture: slower, more accurate; int8: faster, a little less
accurate), on processors with 1 or more threads pinned to cores.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from carin_ros.core.profiles import CoRun, Metrics, ProfileDB
from carin_ros.core.space import Design, Precision, Processor, Variant

DEFAULT_TASKS = ('image_classification', 'text_classification', 'face_analysis')
_BASE = {'image_classification': (9.0, 0.70, 25.0), 'text_classification': (4.0, 0.82, 45.0),
         'face_analysis': (3.0, 0.88, 8.0)}
"""Per task: fp32 latency (ms, one thread) of the smallest architecture, its accuracy, size MB."""


def cpu_processors(n_cores: int, multi: bool = True) -> tuple[Processor, ...]:
    """``cpu<i>`` (one thread pinned to core i) for every core, plus ``cpu`` (all cores)."""
    procs = [Processor(f'cpu{i}', threads=1, cores=(i,)) for i in range(n_cores)]
    if multi and n_cores > 1:
        procs.append(Processor('cpu', threads=n_cores, cores=tuple(range(n_cores))))
    return tuple(procs)


def synthetic_db(seed: int = 0, tasks: Sequence[str] = DEFAULT_TASKS,
                 variants_per_task: int | Sequence[int] = 4,
                 processors: Sequence[Processor] | None = None, n_cores: int = 2,
                 corun_fraction: float = 0.3, energy: bool = True, speed: float = 1.0,
                 device: str = 'synthetic') -> ProfileDB:
    """A profile database over ``tasks`` with every (variant, processor) design profiled.

    ``variants_per_task`` variants alternate fp32/int8 over growing architectures;
    ``corun_fraction`` of the cross-task pairs sharing a core get a measured co-run slowdown;
    ``speed`` divides every latency (a faster device).
    """
    rng = np.random.default_rng(seed)
    procs = tuple(processors) if processors is not None else cpu_processors(n_cores)
    counts = ([int(variants_per_task)] * len(tasks) if isinstance(variants_per_task, int)
              else [int(v) for v in variants_per_task])
    if len(counts) != len(tasks) or min(counts) < 1:
        raise ValueError('variants_per_task: one count >= 1 per task')
    variants: list[Variant] = []
    entries: dict[Design, Metrics] = {}
    # Per processor: multi-thread speed-up and a device-specific skew.
    proc_speed = {p.name: (max(1, p.threads) ** 0.75) * float(rng.uniform(0.9, 1.1))
                  for p in procs}
    for task, count in zip(tasks, counts, strict=True):
        lat0, acc0, size0 = _BASE.get(task, (float(rng.uniform(3, 10)),
                                             float(rng.uniform(0.6, 0.9)),
                                             float(rng.uniform(5, 40))))
        for k in range(count):
            arch_level = k // 2
            precision = Precision.FP32 if k % 2 == 0 else Precision.INT8
            scale = 1.6 ** arch_level * float(rng.uniform(0.85, 1.15))
            acc = min(0.99, acc0 + 0.05 * math.log2(1 + arch_level) * (1 - acc0) * 4)
            acc = acc * (1.0 if precision is Precision.FP32 else float(rng.uniform(0.95, 0.99)))
            lat = lat0 * scale * (1.0 if precision is Precision.FP32 else 0.7)
            size = size0 * 1.5 ** arch_level * (1.0 if precision is Precision.FP32 else 0.27)
            name = f'{task[:4]}_a{arch_level}_{precision.value}'
            v = Variant(task, name, f'{task[:4]}_a{arch_level}', precision)
            variants.append(v)
            for p in procs:
                mean = lat / proc_speed[p.name] / speed * float(rng.uniform(0.95, 1.05))
                std = mean * float(rng.uniform(0.03, 0.12))
                entries[Design(task, name, p.name)] = Metrics(
                    accuracy=round(acc, 4), latency_mean_ms=mean, latency_std_ms=std,
                    latency_p50_ms=mean * 0.98, latency_p90_ms=mean + 1.28 * std,
                    latency_p99_ms=mean + 2.33 * std, throughput_fps=1000.0 / mean,
                    memory_mb=15.0 + 2.2 * size + 4.0 * p.threads, size_mb=size,
                    energy_mj=mean * 1.2 * p.threads if energy else None)
    db = ProfileDB(device, procs, variants, entries, n_cores=n_cores,
                   meta={'synthetic': True, 'seed': seed})
    if corun_fraction > 0 and len(tasks) > 1:
        designs = sorted(entries)
        for i, a in enumerate(designs):
            for b in designs[i + 1:]:
                if a.task == b.task or rng.random() >= corun_fraction:
                    continue
                pa, pb = db.processor(a.processor), db.processor(b.processor)
                shared = pa.resources(n_cores) & pb.resources(n_cores)
                if not shared:
                    continue
                db.coruns.append(CoRun(a, b, float(rng.uniform(1.3, 2.1)),
                                       float(rng.uniform(1.3, 2.1))))
    return db


def variants_for_size(target: int, n_tasks: int = 3, n_processors: int = 3) -> int:
    """Variants per task so the joint space has at least ``target`` designs."""
    per_task = math.ceil(target ** (1.0 / n_tasks) - 1e-9)
    return max(1, math.ceil(per_task / n_processors))


def other_device(db: ProfileDB, seed: int = 0, speed: float = 2.0,
                 device: str = 'other_device') -> ProfileDB:
    """A different device for the same variants (for transfer baselines): a 4-core CPU with
    ``big`` (4 threads) and ``little0``/``little1`` (1 thread) processors, latencies from the
    most similar processor of ``db`` divided by ``speed`` and skewed per variant (a model's
    relative speed differs across hardware), no co-run measurements."""
    rng = np.random.default_rng(seed)
    procs = (Processor('big', threads=4, cores=(0, 1, 2, 3)), Processor('little0', cores=(0,)),
             Processor('little1', cores=(1,)))
    single = [p for p in db.processors if p.is_cpu and p.threads == 1] or list(db.processors)
    multi = max(db.processors, key=lambda p: p.threads)
    skew = {(v.task, v.name): float(rng.uniform(0.4, 1.6)) for v in db.variants}
    entries: dict[Design, Metrics] = {}
    for v in db.variants:
        for p in procs:
            src = Design(v.task, v.name, (multi if p.threads > 1 else single[0]).name)
            if src not in db:
                continue
            m = db.get(src)
            f = skew[(v.task, v.name)] / speed * (0.8 if p.threads > 1 else 1.0)
            entries[Design(v.task, v.name, p.name)] = Metrics(
                accuracy=m.accuracy, latency_mean_ms=m.latency_mean_ms * f,
                latency_std_ms=m.latency_std_ms * f, latency_p50_ms=m.latency_p50_ms * f,
                latency_p90_ms=m.latency_p90_ms * f, latency_p99_ms=m.latency_p99_ms * f,
                throughput_fps=m.throughput_fps / f, memory_mb=m.memory_mb, size_mb=m.size_mb,
                energy_mj=None if m.energy_mj is None else m.energy_mj * f)
    return ProfileDB(device, procs, db.variants, entries, n_cores=4,
                     meta={'synthetic': True, 'derived_from': db.device, 'seed': seed})

"""RASS solve time vs joint design-space size, and runtime lookup vs exhaustive re-solve."""
from __future__ import annotations

import statistics
import time

from bench.report import markdown_table, write_section
from carin_ros.core.events import EventModel
from carin_ros.core.rass import Solver, resolve, solve
from carin_ros.core.slo import SloSpec
from carin_ros.core.synth import DEFAULT_TASKS, synthetic_db

VARIANTS = (2, 4, 7, 15, 22, 34)
"""Variants per task: joint spaces of 216 .. 1.06e6 designs (3 tasks x 3 processors)."""
SPEC = {
    'tasks': list(DEFAULT_TASKS),
    'rates': {'image_classification': 30.0, 'text_classification': 10.0, 'face_analysis': 15.0},
    'slo': {'image_classification': {'latency_p90_ms': {'max': 60.0}},
            'text_classification': {'latency_p90_ms': {'max': 80.0}},
            'face_analysis': {'latency_p90_ms': {'max': 60.0}},
            'app': {'memory_mb': {'max': 1500.0}}},
    'objectives': {'app': {'accuracy': {'direction': 'max', 'weight': 1.0},
                           'throughput_fps': {'direction': 'max', 'weight': 1.0}}},
}

LOOSE = {**SPEC, 'slo': {'app': {'memory_mb': {'max': 100_000.0}}}}
"""Worst case for pruning: every design feasible, so every event set scans the whole space."""


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _lookup_vs_resolve(db, spec: SloSpec, model: EventModel, ds) -> list:
    """Lookup of the largest precomputed event set vs an exhaustive re-solve of it."""
    events = max(ds.answers, key=len)
    n = 20_000
    t0 = time.perf_counter()
    for _ in range(n):
        ds.lookup(events)
    lookup = (time.perf_counter() - t0) / n
    cold = _median_time(lambda: resolve(db, spec, events, model), 3)
    solver = Solver(db, spec, model)
    warm = _median_time(lambda: resolve(db, spec, events, model, solver=solver,
                                        memory_reference_mb=ds.memory_reference_mb), 3)
    return [ds.stats.space_size, '+'.join(sorted(e.key for e in events)), lookup * 1e6,
            cold * 1000, warm * 1000, cold / lookup, warm / lookup]


def _solve_row(v: int, tight: bool, model: EventModel) -> tuple[list, list | None]:
    spec = SloSpec.from_dict(SPEC if tight else LOOSE)
    db = synthetic_db(seed=1, variants_per_task=v, corun_fraction=0.05)
    repeat = 3 if v <= 15 else 1
    ds = solve(db, spec, model)
    full = _median_time(lambda: solve(db, spec, model), repeat)
    none = _median_time(lambda: solve(db, spec, model, event_sets=[]), repeat)
    s = ds.stats
    row = ['tight' if tight else 'loose', s.space_size, s.pruned_size, s.candidates,
           s.event_sets, none * 1000, full * 1000, full < 1.0]
    lookup = _lookup_vs_resolve(db, spec, model, ds) if tight and v == 15 else None
    return row, lookup


def main() -> None:
    model = EventModel()
    rows = []
    lookup_row = None
    for v, tight in [(v, True) for v in VARIANTS] + [(v, False) for v in VARIANTS[2:]]:
        row, lookup = _solve_row(v, tight, model)
        rows.append(row)
        lookup_row = lookup_row or lookup
    body = [
        'Synthetic 3-task profiles (`carin_ros.core.synth`, seed 1, 3 CPU processors), SLO '
        'with per-task p90 latency bounds, an app memory budget and two objectives (app '
        'accuracy, app throughput); event model `config/events.yaml`, every single event and '
        'every pair precomputed. Times are medians of 3 runs (1 run above 1e5 designs). '
        '"loose" keeps only a huge memory budget: nothing is pruned and every design is '
        'feasible, the worst case for the solver.',
        '',
        markdown_table(['SLO', 'joint designs', 'after pruning', 'feasible', 'event sets',
                        'solve, no events (ms)', 'solve, all event sets (ms)', '< 1 s'], rows),
        '',
    ]
    if lookup_row is not None:
        body += [
            'Runtime decision for the largest precomputed event set: design-set lookup vs an '
            'exhaustive re-solve of the same event set (cold: tables built from the profiles '
            'too; warm: tables reused), measured in one run.',
            '',
            markdown_table(['joint designs', 'event set', 'lookup (us)', 're-solve cold (ms)',
                            're-solve warm (ms)', 'speed-up cold', 'speed-up warm'],
                           [lookup_row]),
        ]
    write_section('solve', 'RASS solve time and runtime lookup', '\n'.join(body))
    print('\n'.join(body))


if __name__ == '__main__':
    main()

"""Independent plain-Python brute force over DesignSpace.__iter__ (reference for RASS tests).

Written from docs/formulation.md without the solver's code: its own contention, aggregation,
constraint check and score.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from carin_ros.core.events import EventModel
from carin_ros.core.profiles import Metric, ProfileDB
from carin_ros.core.slo import APP, Bound, SloSpec
from carin_ros.core.space import JointDesign

LATENCY = {'latency_mean_ms', 'latency_std_ms', 'latency_p50_ms', 'latency_p90_ms',
           'latency_p99_ms'}


@dataclass
class Row:
    joint: JointDesign
    feasible: bool
    values: list[float]
    memory: float


def _slowdown(db: ProfileDB, spec: SloSpec, joint: JointDesign, d) -> float:
    s = 1.0
    for o in joint.designs:
        if o.task == d.task:
            continue
        measured = db.corun(d, o)
        if measured is not None:
            s += max(0.0, measured[0] - 1.0)
            continue
        ra = db.processor(d.processor).resources(db.n_cores)
        rb = db.processor(o.processor).resources(db.n_cores)
        share = len(ra & rb) / len(ra)
        rate = dict(spec.rates).get(o.task)
        util = 1.0 if rate is None else min(1.0, rate * db.get(o).latency_mean_ms / 1000.0)
        s += share * util
    return s


def task_value(db, spec, joint, d, metric: str, factor: float) -> float:
    m = db.get(d)
    v = getattr(m, metric)
    if v is None:
        return math.nan
    s = _slowdown(db, spec, joint, d)
    if metric in LATENCY:
        return v * s * factor
    if metric == 'throughput_fps':
        return v / s / factor
    return v


def value(db, spec, joint, scope, metric: str, factors) -> float:
    if scope != APP:
        d = joint.for_task(scope)
        return task_value(db, spec, joint, d, metric, factors.get(d.processor, 1.0))
    vals = [task_value(db, spec, joint, d, metric, factors.get(d.processor, 1.0))
            for d in joint.designs]
    if metric in LATENCY:
        return max(vals)
    if metric == 'throughput_fps':
        return min(vals)
    if metric == 'accuracy':
        return sum(vals) / len(vals)
    return sum(vals)


def evaluate(db: ProfileDB, spec: SloSpec, model: EventModel, events, memory_ref):
    effect = model.effect(events, db.processors, db.n_cores)
    factors = dict(effect.latency_factor)
    rows = []
    for joint in db.design_space(spec.tasks):
        ok = not any(d.processor in effect.excluded for d in joint.designs)
        for c in spec.constraints:
            v = value(db, spec, joint, c.scope, c.metric.value, factors)
            bound = c.value
            if c.scope == APP and c.metric is Metric.MEMORY and c.bound is Bound.MAX and \
                    effect.memory_factor is not None:
                bound = min(bound, effect.memory_factor * memory_ref)
            ok = ok and (v <= bound if c.bound is Bound.MAX else v >= bound)
        if effect.memory_factor is not None and spec.bound(APP, Metric.MEMORY, Bound.MAX) is None:
            ok = ok and value(db, spec, joint, APP, 'memory_mb', {}) <= \
                effect.memory_factor * memory_ref
        vals = [value(db, spec, joint, o.scope, o.metric.value, factors)
                for o in spec.objectives]
        rows.append(Row(joint, ok, vals, value(db, spec, joint, APP, 'memory_mb', {})))
    return rows, effect


def score_rows(spec: SloSpec, rows: list[Row], effect) -> list[float]:
    feas = [r for r in rows if r.feasible]
    weights = [o.weight * effect.weight(o.metric) for o in spec.objectives]
    out = []
    for r in rows:
        if not r.feasible:
            out.append(0.0)
            continue
        acc = 0.0
        for k, o in enumerate(spec.objectives):
            lo = min(f.values[k] for f in feas)
            hi = max(f.values[k] for f in feas)
            if hi == lo:
                n = 1.0
            elif o.direction.value == 'max':
                n = (r.values[k] - lo) / (hi - lo)
            else:
                n = (hi - r.values[k]) / (hi - lo)
            acc += weights[k] * (1.0 - n) ** 2
        out.append(1.0 - math.sqrt(acc / sum(weights)))
    return out


def best(db, spec, model, events=frozenset(), memory_ref=None):
    """(best joint or None, its score, all scores, rows) by brute force."""
    rows, effect = evaluate(db, spec, model, events, memory_ref)
    scores = score_rows(spec, rows, effect)
    feasible = [(s, i) for i, (s, r) in enumerate(zip(scores, rows, strict=True)) if r.feasible]
    if not feasible:
        return None, 0.0, scores, rows
    s, i = max(feasible, key=lambda si: (si[0], -si[1]))
    return rows[i].joint, s, scores, rows


def memory_reference(db, spec, model):
    budget = spec.bound(APP, Metric.MEMORY, Bound.MAX)
    if budget is not None:
        return budget
    joint, *_ = best(db, spec, model)
    return sum(db.get(d).memory_mb for d in joint.designs)

"""RASS: solve the joint design space once, offline, for the SLOs and every anticipated event set.

``solve`` enumerates the joint space vectorised (numpy index arrays over per-task design
tables, pairwise slowdown matrices gathered per pair of tasks, in chunks), after pruning
per-task designs that cannot be feasible (contention and events only make latency and
throughput worse and never change accuracy, memory, size or energy). It ranks the designs
feasible without events and, for every anticipated event set, keeps the best design still
feasible under it (or the closest one, flagged infeasible). At run time ``DesignSet.lookup``
is a dict lookup.
"""
from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import yaml

from carin_ros.core.contention import ContentionModel, JointMetrics, overlap_matrix
from carin_ros.core.events import (
    Event,
    EventEffect,
    EventModel,
    MemoryPressure,
    event_key,
    parse_event_set,
)
from carin_ros.core.profiles import Metric, ProfileDB, save_yaml
from carin_ros.core.scoring import Normalisation
from carin_ros.core.slo import APP, Bound, Constraint, Direction, SloError, SloSpec
from carin_ros.core.space import Design, JointDesign, Processor

SCHEMA_VERSION = 1
CHUNK = 1 << 17
"""Joint designs evaluated per numpy chunk."""


class InfeasibleSLOError(ValueError):
    """No joint design meets the SLOs: names the constraints no design meets and the closest
    design (smallest normalised violation) with its metrics."""

    def __init__(self, unmet: Sequence[Constraint], closest: JointDesign | None,
                 metrics: JointMetrics | None, violated: Sequence[str],
                 events: frozenset[Event] = frozenset()) -> None:
        self.unmet = tuple(unmet)
        self.closest = closest
        self.metrics = metrics
        self.violated = tuple(violated)
        self.events = events
        where = '' if not events else f' under events {event_key(events)}'
        lines = [f'no joint design meets the SLOs{where}.']
        if self.unmet:
            lines.append('Constraints that no single design meets: '
                         + '; '.join(str(c) for c in self.unmet))
        else:
            lines.append('Every constraint is met by some design, but never all at once.')
        if closest is not None and metrics is not None:
            lines.append(f'Closest design: {closest} (misses: {", ".join(self.violated)})')
            for task, m in metrics.tasks:
                lines.append(f'  {task}: accuracy {m.accuracy:.3f}, latency p90 '
                             f'{m.latency_p90_ms:.2f} ms, {m.throughput_fps:.1f} fps, '
                             f'{m.memory_mb:.1f} MB')
        super().__init__('\n'.join(lines))


@dataclass(frozen=True)
class Answer:
    """The design for an event set: metrics under the events, score (0 when infeasible),
    and, when infeasible, the closest design's normalised violation and missed constraints."""

    events: frozenset[Event]
    design: JointDesign | None
    feasible: bool
    score: float
    metrics: JointMetrics | None
    violation: float = 0.0
    violated: tuple[str, ...] = ()
    precomputed: bool = True

    @property
    def key(self) -> str:
        return event_key(self.events)


@dataclass(frozen=True)
class Ranked:
    """One design feasible without events, with its score and joint metrics."""

    design: JointDesign
    score: float
    metrics: JointMetrics


@dataclass(frozen=True)
class SolveStats:
    space_size: int
    pruned_size: int
    candidates: int
    event_sets: int
    solve_time_s: float


def effective_constraints(spec: SloSpec, effect: EventEffect,
                          memory_reference_mb: float | None) -> tuple[Constraint, ...]:
    """The spec's constraints with the app memory budget scaled by memory pressure."""
    constraints = list(spec.constraints)
    if effect.memory_factor is not None and memory_reference_mb is not None:
        budget = effect.memory_factor * memory_reference_mb
        current = spec.bound(APP, Metric.MEMORY, Bound.MAX)
        constraints = [c for c in constraints
                       if not (c.scope == APP and c.metric is Metric.MEMORY
                               and c.bound is Bound.MAX)]
        constraints.append(Constraint(APP, Metric.MEMORY, Bound.MAX,
                                      budget if current is None else min(current, budget)))
    return tuple(constraints)


def effective_weights(spec: SloSpec, effect: EventEffect) -> tuple[float, ...]:
    return tuple(o.weight * effect.weight(o.metric) for o in spec.objectives)


def check(spec: SloSpec, joint: JointDesign, base: JointMetrics, effect: EventEffect,
          memory_reference_mb: float | None) -> tuple[JointMetrics, tuple[str, ...], float]:
    """Metrics of ``joint`` under ``effect``, the constraints it misses and its normalised
    violation (``inf`` when it uses an excluded processor). Plain Python."""
    excluded = sorted(d.processor for d in joint.designs if d.processor in effect.excluded)
    metrics = base.scaled({d.task: effect.factor(d.processor) for d in joint.designs})
    if excluded:
        return metrics, tuple(f'processor {p} unavailable' for p in excluded), math.inf
    missed, total = [], 0.0
    for c in effective_constraints(spec, effect, memory_reference_mb):
        v = metrics.value(c.scope, c.metric)
        if not c.satisfied(v):
            missed.append(f'{c} (is {v:.4g})')
            total += c.violation(v)
    return metrics, tuple(missed), total


class DesignSet:
    """The ranked feasible designs and the answer for every anticipated event set."""

    def __init__(self, device: str, spec: SloSpec, event_model: EventModel,
                 processors: Sequence[Processor], n_cores: int,
                 designs: Mapping[JointDesign, JointMetrics], ranking: Sequence[Ranked],
                 answers: Mapping[frozenset[Event], Answer], normalisation: Normalisation,
                 memory_reference_mb: float | None, max_simultaneous: int,
                 stats: SolveStats) -> None:
        self.device = device
        self.spec = spec
        self.event_model = event_model
        self.processors = tuple(processors)
        self.n_cores = n_cores
        self.designs = dict(designs)
        self.ranking = tuple(ranking)
        self.answers = dict(answers)
        self.normalisation = normalisation
        self.memory_reference_mb = memory_reference_mb
        self.max_simultaneous = max_simultaneous
        self.stats = stats
        self.front: np.ndarray | None = None
        """Objective values of every design feasible without events (not saved)."""
        self._fallbacks: dict[frozenset[Event], Answer] = {}

    @property
    def primary(self) -> Answer:
        return self.answers[frozenset()]

    def likely_designs(self, task: str) -> list[Design]:
        """The designs of ``task`` this set may switch to, most likely first: its primary
        design, then the others ranked by how many answers use them (an answer for a single
        event counts twice, being likelier than a combination). A task node keeps the first
        few warm so a switch needs no build."""
        weight: dict[Design, float] = {}
        for events, answer in self.answers.items():
            if answer.design is not None and task in answer.design.tasks:
                d = answer.design.for_task(task)
                weight[d] = weight.get(d, 0.0) + (2.0 if len(events) <= 1 else 1.0)
        primary = self.primary.design
        first = [primary.for_task(task)] if primary is not None and task in primary.tasks \
            else []
        order = {d: i for i, d in enumerate(weight)}  # ties: first seen
        rest = sorted((d for d in weight if d not in first), key=lambda d: (-weight[d], order[d]))
        return first + rest

    def lookup(self, events: Iterable[Event]) -> Answer:
        """The answer for ``events``: a dict lookup when precomputed, else a cheap fallback
        over a handful of candidates (answers of covered subsets, then the ranking), returned
        with ``precomputed=False``."""
        key = frozenset(events)
        answer = self.answers.get(key)
        if answer is not None:
            return answer
        key = self.event_model.canonical(key)
        answer = self.answers.get(key)
        return answer if answer is not None else self._fallback(key)

    def effect(self, events: Iterable[Event]) -> EventEffect:
        return self.event_model.effect(events, self.processors, self.n_cores)

    def evaluate(self, joint: JointDesign, events: Iterable[Event]) -> Answer:
        """``joint`` (one of :attr:`designs`) checked and scored under ``events``, scored
        against the no-event normalisation."""
        events = frozenset(events)
        effect = self.effect(events)
        norm = replace(self.normalisation, weights=effective_weights(self.spec, effect))
        return self._evaluate(joint, events, effect, norm)

    def _evaluate(self, joint: JointDesign, events: frozenset[Event], effect: EventEffect,
                  norm: Normalisation) -> Answer:
        metrics, missed, violation = check(self.spec, joint, self.designs[joint], effect,
                                           self.memory_reference_mb)
        feasible = not missed
        values = [metrics.value(o.scope, o.metric) for o in self.spec.objectives]
        return Answer(events, joint, feasible, norm.score_one(values, feasible), metrics,
                      violation, missed, precomputed=False)

    def _fallback(self, events: frozenset[Event]) -> Answer:
        """An event set that was not precomputed: the best of a handful of candidates.
        Remembered, so each such set costs its evaluation once."""
        cached = self._fallbacks.get(events)
        if cached is None:
            cached = self._fallbacks[events] = self._evaluate_fallback(events)
        return cached

    def warm_fallbacks(self, stop: Callable[[], bool] | None = None) -> int:
        """Evaluate in advance every event set one event larger than the precomputed ones
        (three simultaneous events when ``max_simultaneous`` is 2), built from the single
        events the set anticipates, so that a lookup of one is a dict access too. Meant for a
        background thread after solving (``stop`` ends it early); returns how many sets
        were added. Two levels of memory pressure never combine (the detector reports the
        most severe), so such sets are skipped."""
        singles = sorted({e for k in self.answers if len(k) == 1 for e in k},
                         key=lambda e: e.key)
        added = 0
        for combo in itertools.combinations(singles, self.max_simultaneous + 1):
            if stop is not None and stop():
                break
            if sum(isinstance(e, MemoryPressure) for e in combo) > 1:
                continue
            key = self.event_model.canonical(combo)
            if key in self.answers or key in self._fallbacks:
                continue
            self._fallback(key)
            added += 1
        return added

    def _evaluate_fallback(self, events: frozenset[Event]) -> Answer:
        effect = self.effect(events)
        norm = replace(self.normalisation, weights=effective_weights(self.spec, effect))
        candidates: list[JointDesign] = []
        covered = sorted((k for k in self.answers if k <= events), key=len, reverse=True)
        for k in covered:
            d = self.answers[k].design
            if d is not None and d not in candidates:
                candidates.append(d)
        for r in self.ranking:
            if r.design not in candidates:
                candidates.append(r.design)
        best: Answer | None = None
        closest: Answer | None = None
        for d in candidates:
            a = self._evaluate(d, events, effect, norm)
            if a.feasible and (best is None or a.score > best.score):
                best = a
            if not a.feasible and (closest is None or a.violation < closest.violation):
                closest = a
        if best is not None:
            return best
        if closest is not None and math.isfinite(closest.violation):
            return closest
        return Answer(events, None, False, 0.0, None, math.inf,
                      ('no candidate design runs under these events',), precomputed=False)

    def model_bytes(self) -> int:
        """Bytes of the distinct models this set may switch to (from its metrics' size)."""
        sizes: dict[tuple[str, str], float] = {}
        for a in self.answers.values():
            if a.design is None:
                continue
            base = self.designs[a.design]
            for d in a.design.designs:
                sizes[(d.task, d.variant)] = base.task(d.task).size_mb
        return int(sum(sizes.values()) * 1e6)

    # -- YAML ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        ids: dict[JointDesign, int] = {}
        order = [r.design for r in self.ranking] + [a.design for a in self.answers.values()
                                                     if a.design is not None]
        for d in order:
            ids.setdefault(d, len(ids))
        return {
            'schema_version': SCHEMA_VERSION,
            'device': self.device,
            'n_cores': self.n_cores,
            'max_simultaneous': self.max_simultaneous,
            'memory_reference_mb': self.memory_reference_mb,
            'stats': {k: getattr(self.stats, k) for k in SolveStats.__dataclass_fields__},
            'spec': self.spec.to_dict(),
            'event_model': self.event_model.to_dict(),
            'processors': [p.to_dict() for p in self.processors],
            'normalisation': {'lo': list(self.normalisation.lo),
                              'hi': list(self.normalisation.hi)},
            'designs': [{'id': i, 'design': d.as_dict(), 'metrics': self.designs[d].to_dict()}
                        for d, i in ids.items()],
            'ranking': [{'design': ids[r.design], 'score': float(r.score)}
                        for r in self.ranking],
            'answers': [{'events': a.key, 'design': None if a.design is None else ids[a.design],
                         'feasible': a.feasible, 'score': float(a.score),
                         'violation': float(a.violation), 'violated': list(a.violated)}
                        for a in sorted(self.answers.values(),
                                        key=lambda a: (len(a.events), a.key))],
        }

    @classmethod
    def from_dict(cls, data: Mapping, source: str = '<dict>') -> DesignSet:
        if not isinstance(data, Mapping):
            raise ValueError(f'{source}: not a design set (top level must be a mapping)')
        try:
            if data.get('schema_version') != SCHEMA_VERSION:
                raise ValueError(f'schema_version is {data.get("schema_version")!r}, '
                                 f'expected {SCHEMA_VERSION}')
            spec = SloSpec.from_dict(data['spec'], source=f'{source}: spec')
            model = EventModel.from_dict(data['event_model'], source=f'{source}: event_model')
            processors = [Processor.from_dict(p) for p in data['processors']]
            designs: dict[int, JointDesign] = {}
            metrics: dict[JointDesign, JointMetrics] = {}
            for row in data['designs']:
                joint = JointDesign(tuple(Design.parse(t, k) for t, k in row['design'].items()))
                designs[int(row['id'])] = joint
                metrics[joint] = JointMetrics.from_dict(row['metrics'])
            norm = Normalisation(spec.objectives, tuple(data['normalisation']['lo']),
                                 tuple(data['normalisation']['hi']),
                                 tuple(o.weight for o in spec.objectives))
            ranking = [Ranked(designs[r['design']], float(r['score']),
                              metrics[designs[r['design']]]) for r in data['ranking']]
            out = cls(str(data['device']), spec, model, processors, int(data['n_cores']),
                      metrics, ranking, {}, norm, data.get('memory_reference_mb'),
                      int(data['max_simultaneous']), SolveStats(**data['stats']))
            for a in data['answers']:
                events = parse_event_set(a['events'])
                joint = None if a['design'] is None else designs[a['design']]
                m = None if joint is None else metrics[joint].scaled(
                    {d.task: out.effect(events).factor(d.processor) for d in joint.designs})
                out.answers[events] = Answer(events, joint, bool(a['feasible']),
                                             float(a['score']), m, float(a['violation']),
                                             tuple(a.get('violated') or ()))
            if frozenset() not in out.answers:
                raise ValueError('answers lack the no-event entry "none"')
            return out
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise ValueError(f'{source}: not a design set: {exc!s}') from exc

    def save(self, path: str | os.PathLike) -> None:
        save_yaml(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> DesignSet:
        path = os.fspath(path)
        try:
            with open(path, encoding='utf-8') as f:
                data = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f'{path}: cannot read design set: {exc}') from exc
        if not isinstance(data, Mapping):
            raise ValueError(f'{path}: not a design set (top level must be a mapping)')
        return cls.from_dict(data, source=path)


# -- the vectorised solver ------------------------------------------------------------------
@dataclass
class _Task:
    designs: tuple[Design, ...]
    proc: np.ndarray                       # processor index per design
    values: dict[Metric, np.ndarray]       # alone, per design
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


class _Rows:
    """A block of joint designs as per-task design indices, with contended base values."""

    def __init__(self, solver: Solver, idx: np.ndarray) -> None:
        self.idx = idx
        self.solver = solver
        tasks = solver.tasks
        n, t = idx.shape
        slow = np.ones((n, t))
        for i in range(t):
            for j in range(t):
                if i != j:
                    slow[:, i] += solver.excess[(i, j)][idx[:, i], idx[:, j]]
        self.slow = slow
        self.proc = np.stack([tasks[i].proc[idx[:, i]] for i in range(t)], axis=1)
        self._cache: dict[tuple[int, Metric], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.idx)

    def base(self, i: int, metric: Metric) -> np.ndarray:
        key = (i, metric)
        if key not in self._cache:
            v = self.solver.tasks[i].values[metric][self.idx[:, i]]
            if metric.is_latency:
                v = v * self.slow[:, i]
            elif metric is Metric.THROUGHPUT:
                v = v / self.slow[:, i]
            self._cache[key] = v
        return self._cache[key]

    def value(self, scope: str, metric: Metric, factor: np.ndarray | None) -> np.ndarray:
        """Per-row value of ``metric`` of a task or the app, latency times ``factor``."""
        scale = factor is not None and (metric.is_latency or metric is Metric.THROUGHPUT)

        def one(i: int) -> np.ndarray:
            v = self.base(i, metric)
            if scale:
                v = v * factor[:, i] if metric.is_latency else v / factor[:, i]
            return v
        if scope != APP:
            return one(self.solver.task_index[scope])
        n_tasks = len(self.solver.tasks)
        combine = (np.maximum if metric.is_latency else
                   np.minimum if metric is Metric.THROUGHPUT else np.add)
        out = one(0)
        for i in range(1, n_tasks):
            out = combine(out, one(i))
        return out / n_tasks if metric is Metric.ACCURACY and n_tasks > 1 else out

    def subset(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.solver, self.idx[mask])


class Solver:
    """Tables of one (profiles, spec) pair; solves event sets over them."""

    def __init__(self, db: ProfileDB, spec: SloSpec, event_model: EventModel | None = None,
                 ignore_contention: bool = False) -> None:
        self.db = db
        self.spec = spec
        self.model = event_model or EventModel()
        space = db.design_space(spec.tasks)
        self.processors = db.processors
        self.proc_index = {p.name: i for i, p in enumerate(self.processors)}
        self.contention = ContentionModel(db, dict(spec.rates))
        self.task_index = {t: i for i, t in enumerate(spec.tasks)}
        self.tasks: list[_Task] = []
        for t in spec.tasks:
            designs = space.task_designs(t)
            values = {m: np.array([_metric(db, d, m) for d in designs]) for m in Metric}
            if Metric.ENERGY in spec.metrics_used and np.isnan(values[Metric.ENERGY]).any():
                lacking = [d.key for d, e in zip(designs, values[Metric.ENERGY], strict=True)
                           if e != e]
                raise SloError(f'the SLO spec uses energy_mj but profiles of {db.device} lack '
                               f'it for task {t}: {", ".join(lacking[:5])}'
                               f'{" ..." if len(lacking) > 5 else ""}')
            proc = np.array([self.proc_index[d.processor] for d in designs], dtype=np.intp)
            self.tasks.append(_Task(designs, proc, values))
        overlaps = overlap_matrix(self.processors, db.n_cores)
        self.excess: dict[tuple[int, int], np.ndarray] = {}
        for i, a in enumerate(self.tasks):
            for j, b in enumerate(self.tasks):
                if i != j:
                    e = self.contention.excess_matrix(a.designs, b.designs, self.proc_index,
                                                      overlaps)
                    self.excess[(i, j)] = np.zeros_like(e) if ignore_contention else e
        self.space_size = math.prod(len(t.designs) for t in self.tasks)
        self._prune()

    # -- enumeration ---------------------------------------------------------------------
    def _prune(self) -> None:
        """Keep the per-task designs that can meet every constraint alone (a relaxation:
        contention and events only make things worse)."""
        for name, task in zip(self.spec.tasks, self.tasks, strict=True):
            ok = np.ones(len(task.designs), dtype=bool)
            for c in self.spec.constraints:
                v = task.values[c.metric]
                bound = c.value
                exact = c.metric not in (Metric.THROUGHPUT,) and not c.metric.is_latency
                if c.scope == name:
                    if exact or (c.metric.is_latency and c.bound is Bound.MAX) or (
                            c.metric is Metric.THROUGHPUT and c.bound is Bound.MIN):
                        ok &= (v <= bound) if c.bound is Bound.MAX else (v >= bound)
                elif c.scope == APP:
                    if c.metric.is_latency and c.bound is Bound.MAX:
                        ok &= v <= bound
                    elif c.metric is Metric.THROUGHPUT and c.bound is Bound.MIN:
                        ok &= v >= bound
                    elif c.metric in (Metric.MEMORY, Metric.SIZE, Metric.ENERGY) and \
                            c.bound is Bound.MAX:
                        ok &= v <= bound
            task.keep = np.flatnonzero(ok)
        self.pruned_size = math.prod(len(t.keep) for t in self.tasks)

    def chunks(self, pruned: bool = True) -> Iterator[_Rows]:
        """The joint space (or the pruned one) in blocks of rows, itertools.product order."""
        shape = tuple(len(t.keep) if pruned else len(t.designs) for t in self.tasks)
        total = math.prod(shape)
        for start in range(0, total, CHUNK):
            flat = np.arange(start, min(total, start + CHUNK))
            local = np.stack(np.unravel_index(flat, shape), axis=1) if shape else flat[:, None]
            if pruned:
                local = np.stack([self.tasks[i].keep[local[:, i]]
                                  for i in range(len(self.tasks))], axis=1)
            yield _Rows(self, local.astype(np.intp, copy=False))

    def rows(self, idx: np.ndarray) -> _Rows:
        """Rows for per-task design indices ``idx`` (joint designs x tasks)."""
        return _Rows(self, np.asarray(idx, dtype=np.intp).reshape(-1, len(self.tasks)))

    def joint(self, row: np.ndarray) -> JointDesign:
        return JointDesign(tuple(self.tasks[i].designs[k] for i, k in enumerate(row)))

    # -- evaluation of an event set ------------------------------------------------------
    def effect(self, events: Iterable[Event]) -> EventEffect:
        return self.model.effect(events, self.processors, self.db.n_cores)

    def factor(self, rows: _Rows, effect: EventEffect) -> np.ndarray | None:
        if not effect.latency_factor:
            return None
        f = np.ones(len(self.processors))
        for name, x in effect.latency_factor:
            f[self.proc_index[name]] = x
        return f[rows.proc]

    def excluded(self, rows: _Rows, effect: EventEffect) -> np.ndarray | None:
        if not effect.excluded:
            return None
        ex = np.zeros(len(self.processors), dtype=bool)
        for name in effect.excluded:
            ex[self.proc_index[name]] = True
        return ex[rows.proc].any(axis=1)

    def feasible(self, rows: _Rows, effect: EventEffect,
                 memory_reference_mb: float | None) -> np.ndarray:
        factor = self.factor(rows, effect)
        ok = np.ones(len(rows), dtype=bool)
        excluded = self.excluded(rows, effect)
        if excluded is not None:
            ok &= ~excluded
        for c in effective_constraints(self.spec, effect, memory_reference_mb):
            v = rows.value(c.scope, c.metric, factor)
            ok &= (v <= c.value) if c.bound is Bound.MAX else (v >= c.value)
        return ok

    def violation(self, rows: _Rows, effect: EventEffect,
                  memory_reference_mb: float | None) -> np.ndarray:
        """Sum of normalised violations per row; inf on excluded processors."""
        factor = self.factor(rows, effect)
        total = np.zeros(len(rows))
        for c in effective_constraints(self.spec, effect, memory_reference_mb):
            v = rows.value(c.scope, c.metric, factor)
            miss = (c.value - v) if c.bound is Bound.MIN else (v - c.value)
            total += np.where(np.isnan(v), np.inf, np.maximum(miss, 0.0) / (abs(c.value) or 1))
        excluded = self.excluded(rows, effect)
        if excluded is not None:
            total[excluded] = np.inf
        return total

    def objective_columns(self, rows: _Rows, effect: EventEffect) -> list[np.ndarray]:
        factor = self.factor(rows, effect)
        return [rows.value(o.scope, o.metric, factor) for o in self.spec.objectives]

    def objectives(self, rows: _Rows, effect: EventEffect) -> np.ndarray:
        """Objective values, rows x objectives."""
        cols = self.objective_columns(rows, effect)
        return np.stack(cols, axis=1) if cols else np.zeros((len(rows), 0))

    def candidates(self) -> _Rows:
        """The joint designs feasible without events."""
        none = self.effect(())
        blocks = [r.idx[self.feasible(r, none, None)] for r in self.chunks(pruned=True)]
        idx = np.concatenate(blocks) if blocks else np.zeros((0, len(self.tasks)), np.intp)
        return _Rows(self, idx)

    def memory_reference(self, primary_row: np.ndarray | None) -> float | None:
        budget = self.spec.bound(APP, Metric.MEMORY, Bound.MAX)
        if budget is not None or primary_row is None:
            return budget
        return float(sum(self.tasks[i].values[Metric.MEMORY][k]
                         for i, k in enumerate(primary_row)))

    def best(self, rows: _Rows, effect: EventEffect, memory_reference_mb: float | None
             ) -> tuple[int | None, float, Normalisation, np.ndarray, np.ndarray]:
        """Index of the best row under ``effect`` (None: none feasible), its score, the
        normalisation, the feasible mask and the scores of feasible rows."""
        ok = self.feasible(rows, effect, memory_reference_mb)
        weights = effective_weights(self.spec, effect)
        where = np.flatnonzero(ok)
        if not len(where):
            norm = Normalisation.fit(self.spec.objectives, np.zeros((0, len(weights))),
                                     weights)
            return None, 0.0, norm, ok, np.zeros(0)
        cols = [c[where] for c in self.objective_columns(rows, effect)]
        norm, scores = score_columns(self.spec.objectives, cols, weights)
        k = int(np.argmax(scores))
        return int(where[k]), float(scores[k]), norm, ok, scores

    def closest(self, pending: Sequence[tuple[frozenset[Event], EventEffect]],
                memory_reference_mb: float | None
                ) -> tuple[dict[frozenset[Event], np.ndarray | None], list[Constraint]]:
        """One pass over the full space: per event set the row with the smallest violation
        (None when every design uses an excluded processor), and the constraints that no
        design meets without events."""
        best: dict[frozenset[Event], tuple[float, np.ndarray | None]] = {
            e: (math.inf, None) for e, _ in pending}
        met = [False] * len(self.spec.constraints)
        for rows in self.chunks(pruned=False):
            for events, effect in pending:
                v = self.violation(rows, effect, memory_reference_mb)
                k = int(np.argmin(v))
                if v[k] < best[events][0]:
                    best[events] = (float(v[k]), rows.idx[k].copy())
            for n, c in enumerate(self.spec.constraints):
                if not met[n]:
                    v = rows.value(c.scope, c.metric, None)
                    met[n] = bool(np.any((v <= c.value) if c.bound is Bound.MAX
                                         else (v >= c.value)))
        unmet = [c for c, m in zip(self.spec.constraints, met, strict=True) if not m]
        return {e: row for e, (_, row) in best.items()}, unmet


def score_columns(objectives: Sequence, cols: Sequence[np.ndarray], weights: Sequence[float]
                  ) -> tuple[Normalisation, np.ndarray]:
    """The scores of :mod:`scoring` computed column by column (contiguous, fast) over
    feasible rows; returns the fitted normalisation too."""
    lo = [float(c.min()) for c in cols]
    hi = [float(c.max()) for c in cols]
    total = np.zeros(len(cols[0]) if cols else 0)
    for o, c, a, b, w in zip(objectives, cols, lo, hi, weights, strict=True):
        if b > a:
            n = (c - a) / (b - a) if o.direction is Direction.MAX else (b - c) / (b - a)
            total += w * (1.0 - n) ** 2
    scores = 1.0 - np.sqrt(total / sum(weights))
    return Normalisation(tuple(objectives), tuple(lo), tuple(hi), tuple(weights)), scores


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties by index."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[part].min()
        part = np.flatnonzero(scores >= threshold)  # every tie at the cut-off, in order
    else:
        part = np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))][:k]


def _metric(db: ProfileDB, design: Design, metric: Metric) -> float:
    v = db.get(design).get(metric)
    return math.nan if v is None else float(v)


def solve(db: ProfileDB, spec: SloSpec, event_model: EventModel | None = None,
          max_simultaneous: int = 2, keep: int = 50,
          event_sets: Iterable[frozenset[Event]] | None = None,
          ignore_contention: bool = False) -> DesignSet:
    """Solve ``spec`` on ``db`` for no event and every anticipated event set.

    ``max_simultaneous``: event sets of up to this many simultaneous events are precomputed
    (``event_sets`` overrides the list). ``keep``: how many ranked designs the set stores
    for fallbacks. ``ignore_contention`` solves as if tasks never slowed each other (the
    multi-DNN-unaware baseline). Raises :class:`InfeasibleSLOError` when no design meets the
    SLOs without events.
    """
    t0 = time.perf_counter()
    model = event_model or EventModel()
    solver = Solver(db, spec, model, ignore_contention=ignore_contention)
    sets = list(event_sets) if event_sets is not None else model.event_sets(
        db.processors, max_simultaneous)
    sets = [frozenset()] + [s for s in dict.fromkeys(sets) if s]
    cands = solver.candidates()
    none = solver.effect(())
    contention = ContentionModel(db, dict(spec.rates))

    def metrics_of(joint: JointDesign) -> JointMetrics:
        if ignore_contention:
            return JointMetrics(tuple((d.task, db.get(d)) for d in joint.designs),
                                tuple((d.task, 1.0) for d in joint.designs))
        return contention.joint(joint)

    if not len(cands):
        rows, unmet = solver.closest([(frozenset(), none)], None)
        row = rows[frozenset()]
        joint = None if row is None else solver.joint(row)
        jm = None if joint is None else metrics_of(joint)
        missed = () if joint is None else check(spec, joint, jm, none, None)[1]
        raise InfeasibleSLOError(unmet, joint, jm, missed)
    k, score, norm0, ok0, scores0 = solver.best(cands, none, None)
    assert k is not None
    primary_row = cands.idx[k]
    memory_ref = solver.memory_reference(primary_row)
    designs: dict[JointDesign, JointMetrics] = {}

    def design_of(row: np.ndarray) -> JointDesign:
        joint = solver.joint(row)
        if joint not in designs:
            designs[joint] = metrics_of(joint)
        return joint

    order = _top(scores0, keep)
    feasible_rows = np.flatnonzero(ok0)
    ranking = []
    for n in order:
        joint = design_of(cands.idx[feasible_rows[n]])
        ranking.append(Ranked(joint, float(scores0[n]), designs[joint]))
    answers: dict[frozenset[Event], Answer] = {}
    pending: list[tuple[frozenset[Event], EventEffect]] = []
    for events in sets:
        effect = solver.effect(events)
        if events:
            k, score, _, _, _ = solver.best(cands, effect, memory_ref)
        else:
            k, score = int(feasible_rows[order[0]]), float(scores0[order[0]])
        if k is None:
            pending.append((events, effect))
            continue
        joint = design_of(cands.idx[k])
        metrics = designs[joint].scaled({d.task: effect.factor(d.processor)
                                         for d in joint.designs})
        answers[events] = Answer(events, joint, True, score, metrics)
    if pending:
        rows, _ = solver.closest(pending, memory_ref)
        for events, effect in pending:
            row = rows[events]
            if row is None:
                answers[events] = Answer(events, None, False, 0.0, None, math.inf,
                                         ('every design uses an unavailable processor',))
                continue
            joint = design_of(row)
            metrics, missed, violation = check(spec, joint, designs[joint], effect, memory_ref)
            answers[events] = Answer(events, joint, False, 0.0, metrics, violation, missed)
    stats = SolveStats(solver.space_size, solver.pruned_size, len(cands), len(sets),
                       time.perf_counter() - t0)
    out = DesignSet(db.device, spec, model, db.processors, db.n_cores, designs, ranking,
                    answers, norm0, memory_ref, max_simultaneous, stats)
    out.front = solver.objectives(cands, none)[ok0]
    return out


def solve_or_closest(db: ProfileDB, spec: SloSpec, event_model: EventModel | None = None,
                     max_simultaneous: int = 2, keep: int = 50
                     ) -> tuple[DesignSet, InfeasibleSLOError | None]:
    """:func:`solve`, or, when the SLOs are infeasible, a design set that serves the closest
    design (smallest normalised violation) without events, plus the error that says which
    constraints no design meets.

    The fallback set is solved on the objectives alone (constraints dropped, so its
    ``spec`` has none and a runtime latency watch does not chase bounds nothing meets);
    every answer in it is marked infeasible. Raises the error when not even a closest design
    exists (every design uses an unavailable processor).
    """
    try:
        return solve(db, spec, event_model, max_simultaneous, keep), None
    except InfeasibleSLOError as exc:
        if exc.closest is None or exc.metrics is None:
            raise
        error = exc
    out = solve(db, replace(spec, constraints=()), event_model, max_simultaneous, keep)
    note = ('SLOs infeasible: chosen on the objectives alone',)
    for events, answer in list(out.answers.items()):
        out.answers[events] = replace(answer, feasible=False, score=0.0,
                                      violated=answer.violated or note)
    out.designs[error.closest] = error.metrics
    metrics, missed, violation = check(spec, error.closest, error.metrics, out.effect(()),
                                       out.memory_reference_mb)
    out.answers[frozenset()] = Answer(frozenset(), error.closest, False, 0.0, metrics,
                                      violation, missed or error.violated)
    return out, error


def resolve(db: ProfileDB, spec: SloSpec, events: Iterable[Event],
            event_model: EventModel | None = None, solver: Solver | None = None,
            memory_reference_mb: float | None = None) -> Answer:
    """Exhaustive re-solve for one event set (what a system without a design set does
    online). The memory reference defaults to the spec's app budget, else the primary
    design's memory (solved here too)."""
    events = frozenset(events)
    solver = solver or Solver(db, spec, event_model)
    cands = solver.candidates()
    if not len(cands):
        return Answer(events, None, False, 0.0, None, math.inf, ('SLOs infeasible',), False)
    if memory_reference_mb is None:
        memory_reference_mb = spec.bound(APP, Metric.MEMORY, Bound.MAX)
    if memory_reference_mb is None:
        k0, *_ = solver.best(cands, solver.effect(()), None)
        memory_reference_mb = solver.memory_reference(cands.idx[k0])
    effect = solver.effect(events)
    k, score, *_ = solver.best(cands, effect, memory_reference_mb)
    if k is None:
        return Answer(events, None, False, 0.0, None, math.inf, ('no feasible design',), False)
    joint = solver.joint(cands.idx[k])
    metrics = solver.contention.joint(joint).scaled(
        {d.task: effect.factor(d.processor) for d in joint.designs})
    return Answer(events, joint, True, score, metrics, precomputed=False)


"""Baselines CARIn is compared with, all scored by the same function on the same profiles.

For every event set ``E`` the reference normalisation is fitted over the designs feasible under
``E`` on the deployment device (what the oracle sees); each approach's design is checked under
``E`` with contention and scored against it (0 when infeasible or on an excluded processor).

Approaches: ``carin`` (RASS design set, lookup), ``oracle`` (exhaustive re-solve per event
set), ``single_best`` (the no-event optimum, never switched), ``oodin`` (one design re-solved
from scratch at every event, each task solved alone with its own and the app's SLO applied to
it), ``transferred`` (RASS solved on another device's profiles, mapped onto this device's
processors by name or nearest), ``multi_dnn_unaware`` (RASS solved as if tasks never slowed each
other, then run with contention) and ``nsga2`` (pymoo NSGA-II over the discrete joint space,
picking from its front by the score).

Storage: bytes of the distinct models an approach must ship to cover its switches; approaches
that re-solve online (``oracle``, ``oodin``, ``nsga2``) cannot know in advance which models
they will pick, so they must ship every model of the space.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from carin_ros.core.contention import ContentionModel
from carin_ros.core.events import Event, EventModel, ProcessorOverloaded, ProcessorUnavailable
from carin_ros.core.profiles import Metric, ProfileDB
from carin_ros.core.rass import (
    DesignSet,
    InfeasibleSLOError,
    Solver,
    check,
    effective_constraints,
    effective_weights,
    resolve,
    solve,
)
from carin_ros.core.scoring import Normalisation
from carin_ros.core.slo import APP, Constraint, Objective, SloSpec, natural_direction
from carin_ros.core.space import Design, JointDesign, Processor

APPROACHES = ('carin', 'oracle', 'single_best', 'oodin', 'transferred', 'multi_dnn_unaware',
              'nsga2')


@dataclass(frozen=True)
class BaselineResult:
    """One approach's choice for one event set, scored on the deployment device."""

    approach: str
    events: frozenset[Event]
    design: JointDesign | None
    score: float
    feasible: bool
    storage_bytes: int
    time_s: float
    """Time to decide at this event: lookup, or solve for re-solving approaches."""


class Evaluator:
    """Checks and scores any joint design under an event set, against the reference
    normalisation of that event set on the deployment device."""

    def __init__(self, db: ProfileDB, spec: SloSpec, model: EventModel) -> None:
        self.db = db
        self.spec = spec
        self.model = model
        self.solver = Solver(db, spec, model)
        self.contention = ContentionModel(db, dict(spec.rates))
        self.candidates = self.solver.candidates()
        self.memory_reference: float | None = None
        if len(self.candidates):
            k, *_ = self.solver.best(self.candidates, self.solver.effect(()), None)
            self.memory_reference = self.solver.memory_reference(self.candidates.idx[k])
        self._norms: dict[frozenset[Event], Normalisation] = {}

    def normalisation(self, events: frozenset[Event]) -> Normalisation:
        if events not in self._norms:
            effect = self.solver.effect(events)
            ok = self.solver.feasible(self.candidates, effect, self.memory_reference)
            values = self.solver.objectives(self.candidates, effect)[ok]
            self._norms[events] = Normalisation.fit(self.spec.objectives, values,
                                                    effective_weights(self.spec, effect))
        return self._norms[events]

    def score(self, joint: JointDesign | None, events: frozenset[Event]) -> tuple[float, bool]:
        if joint is None:
            return 0.0, False
        effect = self.solver.effect(events)
        metrics, missed, _ = check(self.spec, joint, self.contention.joint(joint), effect,
                                   self.memory_reference)
        if missed:
            return 0.0, False
        values = [metrics.value(o.scope, o.metric) for o in self.spec.objectives]
        return self.normalisation(events).score_one(values), True

    def model_bytes(self, designs: Iterable[JointDesign | None]) -> int:
        sizes: dict[tuple[str, str], float] = {}
        for joint in designs:
            if joint is None:
                continue
            for d in joint.designs:
                sizes[(d.task, d.variant)] = self.db.get(d).size_mb
        return int(sum(sizes.values()) * 1e6)

    def all_model_bytes(self) -> int:
        sizes = {(d.task, d.variant): self.db.get(d).size_mb for d in self.db.entries
                 if d.task in self.spec.tasks}
        return int(sum(sizes.values()) * 1e6)


# -- processor mapping for transferred designs ------------------------------------------------
def nearest_processor(p: Processor, candidates: Sequence[Processor],
                      source: Sequence[Processor] = ()) -> Processor:
    """``p``'s namesake among ``candidates``, else the one with the same provider that uses
    the closest share of its device's cores (then the closest thread count; first on ties).
    ``source`` lists ``p``'s device's processors (to know its core count)."""
    for q in candidates:
        if q.name == p.name:
            return q
    same = [q for q in candidates if q.provider == p.provider] or list(candidates)

    def share(x: Processor, procs: Sequence[Processor]) -> float:
        total = len({c for y in procs for c in y.cores}) or 1
        return len(x.cores) / total if x.cores else 1.0
    mine = share(p, source or (p,))
    return min(same, key=lambda q: (abs(share(q, candidates) - mine),
                                    abs(q.threads - p.threads)))


def map_design(joint: JointDesign, source: Sequence[Processor], target: Sequence[Processor],
               db: ProfileDB) -> JointDesign | None:
    """``joint`` (solved on ``source``) deployed on ``target``; None when a variant has no
    profile there."""
    by_name = {p.name: p for p in source}
    out = []
    for d in joint.designs:
        q = nearest_processor(by_name[d.processor], target, source)
        mapped = Design(d.task, d.variant, q.name)
        if mapped not in db:
            return None
        out.append(mapped)
    return JointDesign(tuple(out))


def map_events(events: frozenset[Event], target: Sequence[Processor],
               source: Sequence[Processor]) -> frozenset[Event]:
    """Events of the deployment device expressed on the source device's processors."""
    by_name = {p.name: p for p in target}
    out: set[Event] = set()
    for e in events:
        if isinstance(e, (ProcessorOverloaded, ProcessorUnavailable)):
            q = nearest_processor(by_name[e.processor], source, target)
            out.add(type(e)(q.name))
        else:
            out.add(e)
    return frozenset(out)


# -- OODIn-style per-task solving -------------------------------------------------------------
def single_task_spec(spec: SloSpec, task: str) -> SloSpec:
    """What a single-DNN system is given for ``task``: its constraints and objectives plus
    the app's, applied to the task alone."""
    constraints = {(c.metric, c.bound): c.value for c in spec.constraints if c.scope == APP}
    constraints.update({(c.metric, c.bound): c.value for c in spec.constraints
                        if c.scope == task})
    objectives = {o.metric: o for o in spec.objectives if o.scope == APP}
    objectives.update({o.metric: o for o in spec.objectives if o.scope == task})
    if not objectives:
        objectives = {Metric.ACCURACY: Objective(task, Metric.ACCURACY,
                                                 natural_direction(Metric.ACCURACY), 1.0)}
    return SloSpec((task,), tuple(Constraint(task, m, b, v) for (m, b), v in constraints.items()),
                   tuple(Objective(task, m, o.direction, o.weight)
                         for m, o in objectives.items()),
                   tuple((t, hz) for t, hz in spec.rates if t == task))


def oodin_design(db: ProfileDB, spec: SloSpec, model: EventModel,
                 events: frozenset[Event]) -> JointDesign | None:
    designs = []
    for task in spec.tasks:
        a = resolve(db, single_task_spec(spec, task), events, model)
        if a.design is None:
            return None
        designs.extend(a.design.designs)
    return JointDesign(tuple(designs))


# -- NSGA-II ----------------------------------------------------------------------------------
def nsga2_design(db: ProfileDB, spec: SloSpec, model: EventModel, events: frozenset[Event],
                 memory_reference_mb: float | None, population: int = 40,
                 generations: int = 40, seed: int = 0,
                 solver: Solver | None = None) -> JointDesign | None:
    """Run pymoo NSGA-II on the integer joint space under ``events``; pick from the final
    population's feasible front by the score (normalised over that front)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2, binary_tournament
    from pymoo.core.duplicate import DefaultDuplicateElimination
    from pymoo.core.mating import Mating
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.operators.selection.tournament import TournamentSelection
    from pymoo.optimize import minimize

    solver = solver or Solver(db, spec, model)
    effect = solver.effect(events)
    constraints = effective_constraints(spec, effect, memory_reference_mb)
    sizes = [len(t.designs) for t in solver.tasks]
    signs = np.array([-1.0 if o.direction.value == 'max' else 1.0 for o in spec.objectives])

    def rows_of(x: np.ndarray):
        return solver.rows(np.clip(np.rint(x), 0, np.array(sizes) - 1))

    class JointProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=len(sizes), n_obj=max(1, len(spec.objectives)),
                             n_ieq_constr=len(constraints) + 1, xl=0,
                             xu=np.array(sizes) - 1, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            rows = rows_of(x)
            out['F'] = solver.objectives(rows, effect) * signs
            factor = solver.factor(rows, effect)
            g = []
            for c in constraints:
                v = rows.value(c.scope, c.metric, factor)
                miss = (c.value - v) if c.bound.value == 'min' else (v - c.value)
                g.append(np.where(np.isnan(miss), 1e9, miss / (abs(c.value) or 1.0)))
            excluded = solver.excluded(rows, effect)
            g.append(np.zeros(len(rows)) if excluded is None else np.where(excluded, 1.0, -1.0))
            out['G'] = np.stack(g, axis=1)

    # In small spaces offspring are mostly duplicates: give up on fresh ones after 10 tries
    # (pymoo's default 100 makes tiny problems slow, not better).
    population = max(4, min(population, math.prod(sizes) // 2))
    mating = Mating(TournamentSelection(func_comp=binary_tournament),
                    SBX(prob=0.9, eta=3.0, vtype=float, repair=RoundingRepair()),
                    PM(eta=3.0, vtype=float, repair=RoundingRepair()),
                    eliminate_duplicates=DefaultDuplicateElimination(), n_max_iterations=10)
    algorithm = NSGA2(pop_size=population, sampling=IntegerRandomSampling(), mating=mating,
                      eliminate_duplicates=True)
    res = minimize(JointProblem(), algorithm, ('n_gen', generations), seed=seed, verbose=False)
    if res.X is None:
        return None
    x = np.atleast_2d(res.X)
    rows = rows_of(x)
    ok = solver.feasible(rows, effect, memory_reference_mb)
    if not ok.any():
        return None
    values = solver.objectives(rows, effect)[ok]
    norm = Normalisation.fit(spec.objectives, values, effective_weights(spec, effect))
    k = int(np.argmax(norm.score(values)))
    return solver.joint(rows.idx[np.flatnonzero(ok)[k]])


# -- the comparison ---------------------------------------------------------------------------
def compare(db: ProfileDB, spec: SloSpec, event_model: EventModel | None = None,
            event_sets: Sequence[frozenset[Event]] | None = None,
            source_db: ProfileDB | None = None, approaches: Sequence[str] = APPROACHES,
            nsga_generations: int = 40, nsga_population: int = 40,
            seed: int = 0) -> list[BaselineResult]:
    """Every approach's design, score, feasibility, storage and decision time per event set.

    ``event_sets`` default to the design set's precomputed ones; ``transferred`` needs
    ``source_db`` (skipped without). Raises :class:`InfeasibleSLOError` when the SLOs are
    infeasible on ``db`` without events.
    """
    model = event_model or EventModel()
    unknown = set(approaches) - set(APPROACHES)
    if unknown:
        raise ValueError(f'unknown approaches {sorted(unknown)} (known: {list(APPROACHES)})')
    ev = Evaluator(db, spec, model)
    ds = solve(db, spec, model)
    sets = list(event_sets) if event_sets is not None else list(ds.answers)
    out: list[BaselineResult] = []

    def add(name: str, events: frozenset[Event], joint: JointDesign | None, storage: int,
            seconds: float) -> None:
        score, feasible = ev.score(joint, events)
        out.append(BaselineResult(name, events, joint, score, feasible, storage, seconds))

    def lookup_all(name: str, design_set: DesignSet) -> None:
        chosen, times = [], []
        for events in sets:
            t0 = time.perf_counter()
            a = design_set.lookup(events)
            times.append(time.perf_counter() - t0)
            chosen.append(a.design)
        storage = ev.model_bytes(chosen)
        for events, joint, t in zip(sets, chosen, times, strict=True):
            add(name, events, joint, storage, t)

    if 'carin' in approaches:
        lookup_all('carin', ds)
    if 'oracle' in approaches:
        for events in sets:
            t0 = time.perf_counter()
            a = resolve(db, spec, events, model)
            add('oracle', events, a.design, ev.all_model_bytes(), time.perf_counter() - t0)
    if 'single_best' in approaches:
        primary = ds.primary.design
        for events in sets:
            add('single_best', events, primary, ev.model_bytes([primary]), 0.0)
    if 'oodin' in approaches:
        for events in sets:
            t0 = time.perf_counter()
            joint = oodin_design(db, spec, model, events)
            add('oodin', events, joint, ev.all_model_bytes(), time.perf_counter() - t0)
    if 'multi_dnn_unaware' in approaches:
        lookup_all('multi_dnn_unaware', solve(db, spec, model, ignore_contention=True))
    if 'transferred' in approaches and source_db is not None:
        try:
            source_set: DesignSet | None = solve(source_db, spec, model)
        except InfeasibleSLOError:
            source_set = None
        chosen = []
        for events in sets:
            t0 = time.perf_counter()
            joint = None
            if source_set is not None:
                a = source_set.lookup(map_events(events, db.processors, source_db.processors))
                if a.design is not None:
                    joint = map_design(a.design, source_db.processors, db.processors, db)
            chosen.append((events, joint, time.perf_counter() - t0))
        storage = ev.model_bytes(j for _, j, _ in chosen)
        for events, joint, t in chosen:
            add('transferred', events, joint, storage, t)
    if 'nsga2' in approaches:
        for events in sets:
            t0 = time.perf_counter()
            joint = nsga2_design(db, spec, model, events, ev.memory_reference,
                                 population=nsga_population, generations=nsga_generations,
                                 seed=seed, solver=ev.solver)
            add('nsga2', events, joint, ev.all_model_bytes(), time.perf_counter() - t0)
    return out


@dataclass(frozen=True)
class Summary:
    """One approach over all event sets: mean score, share feasible, storage, median time."""

    approach: str
    mean_score: float
    feasible_share: float
    storage_mb: float
    median_time_s: float
    event_sets: int


def summarise(results: Sequence[BaselineResult]) -> list[Summary]:
    out = []
    for name in dict.fromkeys(r.approach for r in results):
        rs = [r for r in results if r.approach == name]
        out.append(Summary(name, float(np.mean([r.score for r in rs])),
                           sum(r.feasible for r in rs) / len(rs),
                           max(r.storage_bytes for r in rs) / 1e6,
                           float(np.median([r.time_s for r in rs])) if rs else math.nan,
                           len(rs)))
    return out

"""Static comparison per use case: CARIn's design set against every baseline, one score."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from carin_ros.core.baselines import BaselineResult, compare
from carin_ros.core.contention import ContentionModel
from carin_ros.core.events import EventModel
from carin_ros.core.profiles import ProfileDB
from carin_ros.core.rass import DesignSet, solve
from carin_ros.core.slo import SloSpec
from carin_ros.core.space import JointDesign

LOOKUP_APPROACHES = ('carin', 'oracle', 'single_best', 'oodin', 'transferred',
                     'multi_dnn_unaware')


@dataclass(frozen=True)
class ApproachRow:
    """One approach on one use case, over the same event sets as CARIn."""

    usecase: str
    approach: str
    event_sets: int
    mean_score: float
    vs_carin: float          # sum of scores / CARIn's sum over the same event sets
    feasible_share: float
    storage_mb: float        # model bytes the device must hold to cover its switches
    median_decision_ms: float


@dataclass(frozen=True)
class StaticResult:
    """A use case's comparison: rows, raw results, CARIn's design set and its solve time."""

    usecase: str
    rows: tuple[ApproachRow, ...]
    results: tuple[BaselineResult, ...]
    design_set: DesignSet
    solve_s: float


def rows_of(usecase: str, results: Sequence[BaselineResult]) -> tuple[ApproachRow, ...]:
    """Aggregate per approach; ``vs_carin`` compares on the event sets both were run on."""
    carin = {r.events: r.score for r in results if r.approach == 'carin'}
    out = []
    for name in dict.fromkeys(r.approach for r in results):
        rs = [r for r in results if r.approach == name]
        ref = sum(carin.get(r.events, 0.0) for r in rs)
        out.append(ApproachRow(
            usecase, name, len(rs), float(np.mean([r.score for r in rs])),
            sum(r.score for r in rs) / ref if ref > 0 else float('nan'),
            sum(r.feasible for r in rs) / len(rs), max(r.storage_bytes for r in rs) / 1e6,
            float(np.median([r.time_s for r in rs])) * 1e3))
    return tuple(out)


def compare_usecase(usecase: str, db: ProfileDB, spec: SloSpec, model: EventModel,
                    source_db: ProfileDB | None, nsga_generations: int = 40,
                    nsga_population: int = 40) -> StaticResult:
    """Every approach on every precomputed event set (NSGA-II: no event and single events,
    it costs seconds per set); CARIn's offline solve time measured once more here."""
    t0 = time.perf_counter()
    ds = solve(db, spec, model)
    solve_s = time.perf_counter() - t0
    approaches = [a for a in LOOKUP_APPROACHES if a != 'transferred' or source_db is not None]
    results = list(compare(db, spec, model, source_db=source_db, approaches=approaches))
    singles = [frozenset()] + [frozenset({e}) for e in model.anticipated(db.processors)]
    singles = [s for s in singles if s in ds.answers]
    results += compare(db, spec, model, event_sets=singles, approaches=('nsga2',),
                       nsga_generations=nsga_generations, nsga_population=nsga_population)
    return StaticResult(usecase, rows_of(usecase, results), tuple(results), ds, solve_s)


def objective_point(db: ProfileDB, spec: SloSpec, joint: JointDesign,
                    metrics: Sequence[int]) -> tuple[float, ...]:
    """The values of the objectives numbered ``metrics`` for ``joint`` (with contention)."""
    jm = ContentionModel(db, dict(spec.rates)).joint(joint)
    objectives = spec.objectives
    return tuple(jm.value(objectives[k].scope, objectives[k].metric) for k in metrics)

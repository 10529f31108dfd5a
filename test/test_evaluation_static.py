"""Static comparison on a small profile database: rows, ratios against CARIn, storage."""
from __future__ import annotations

import math

import pytest

from carin_ros.core.baselines import BaselineResult
from carin_ros.core.events import EventModel
from carin_ros.core.slo import SloSpec
from carin_ros.core.synth import other_device, synthetic_db
from carin_ros.evaluation.static import compare_usecase, objective_point, rows_of

TASKS = ('image_classification', 'text_classification')
SPEC = SloSpec.from_dict({
    'tasks': list(TASKS), 'rates': {'image_classification': 30.0},
    'slo': {'image_classification': {'latency_p90_ms': {'max': 60.0}}},
    'objectives': {'app': {'accuracy': {}, 'throughput_fps': {}}}})


def test_rows_of_ratio_against_carin() -> None:
    e0, e1 = frozenset(), frozenset({'x'})
    results = [BaselineResult('carin', e0, None, 0.8, True, 10_000_000, 1e-6),
               BaselineResult('carin', e1, None, 0.6, True, 10_000_000, 1e-6),
               BaselineResult('nsga2', e0, None, 0.4, True, 30_000_000, 0.5)]
    carin, nsga = rows_of('uc', results)
    assert carin.vs_carin == 1.0 and carin.event_sets == 2 and carin.storage_mb == 10.0
    assert nsga.vs_carin == pytest.approx(0.5)  # only the no-event set is compared
    assert nsga.median_decision_ms == pytest.approx(500.0)


def test_compare_usecase_small_db() -> None:
    db = synthetic_db(seed=2, tasks=TASKS, variants_per_task=3)
    res = compare_usecase('uc', db, SPEC, EventModel(), other_device(db, seed=3),
                          nsga_generations=5, nsga_population=8)
    rows = {r.approach: r for r in res.rows}
    assert set(rows) == {'carin', 'oracle', 'single_best', 'oodin', 'transferred',
                         'multi_dnn_unaware', 'nsga2'}
    assert rows['carin'].vs_carin == 1.0
    assert rows['carin'].feasible_share == rows['oracle'].feasible_share > 0.5
    # CARIn's design set holds the exhaustive answer for every precomputed event set.
    assert rows['oracle'].vs_carin == pytest.approx(1.0)
    for name, r in rows.items():
        assert r.vs_carin <= 1.0 + 1e-9 or math.isnan(r.vs_carin), name
    # A design set ships fewer (or as many) bytes than shipping every model.
    assert rows['carin'].storage_mb <= rows['oodin'].storage_mb
    assert res.solve_s > 0 and res.design_set.primary.design is not None
    acc, fps = objective_point(db, SPEC, res.design_set.primary.design, (0, 1))
    assert 0 < acc <= 1 and fps > 0

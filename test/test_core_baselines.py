"""Baselines: same scoring for all, oracle is an upper bound, CARIn matches it by lookup."""
import pytest

from carin_ros.core.baselines import (
    compare,
    map_design,
    map_events,
    nearest_processor,
    single_task_spec,
    summarise,
)
from carin_ros.core.events import EventModel, ProcessorOverloaded, Thermal
from carin_ros.core.profiles import Metric
from carin_ros.core.slo import SloSpec
from carin_ros.core.space import Design, JointDesign, Processor
from carin_ros.core.synth import synthetic_db

TASKS = ['image_classification', 'text_classification']
SPEC = SloSpec.from_dict({
    'tasks': TASKS, 'rates': {TASKS[0]: 30.0},
    'slo': {TASKS[0]: {'latency_p90_ms': {'max': 30.0}}, 'app': {'memory_mb': {'max': 300.0}}},
    'objectives': {'app': {'accuracy': {}, 'throughput_fps': {}}}})
OTHER = (Processor('big', threads=4, cores=(0, 1, 2, 3)), Processor('little0', cores=(0,)),
         Processor('little1', cores=(1,)))


@pytest.fixture(scope='module')
def results():
    db = synthetic_db(seed=2, tasks=TASKS, variants_per_task=3)
    src = synthetic_db(seed=8, tasks=TASKS, variants_per_task=3, processors=OTHER, n_cores=4,
                       speed=2.0, device='other')
    approaches = ('carin', 'oracle', 'single_best', 'oodin', 'transferred', 'multi_dnn_unaware')
    return db, compare(db, SPEC, EventModel(), source_db=src, approaches=approaches)


def test_carin_matches_the_oracle_and_bounds_everyone(results):
    _, res = results
    by = {(r.approach, r.events): r for r in res}
    sets = {r.events for r in res}
    assert len(sets) == len(EventModel().event_sets(synthetic_db(tasks=TASKS).processors, 2))
    for events in sets:
        oracle = by[('oracle', events)]
        assert by[('carin', events)].score == pytest.approx(oracle.score, abs=1e-9)
        assert by[('carin', events)].feasible == oracle.feasible
        for name in ('single_best', 'oodin', 'transferred', 'multi_dnn_unaware'):
            r = by[(name, events)]
            assert r.score <= oracle.score + 1e-9, (name, events)
            assert r.feasible or r.score == 0.0
    summary = {s.approach: s for s in summarise(res)}
    assert summary['carin'].mean_score >= summary['single_best'].mean_score
    assert summary['carin'].storage_mb <= summary['oracle'].storage_mb
    assert summary['carin'].median_time_s < summary['oracle'].median_time_s


def test_single_best_never_switches(results):
    _, res = results
    designs = {r.design for r in res if r.approach == 'single_best'}
    assert len(designs) == 1


def test_nsga2_finds_a_feasible_design_no_better_than_the_oracle():
    db = synthetic_db(seed=2, tasks=TASKS, variants_per_task=2)
    sets = [frozenset(), frozenset({ProcessorOverloaded('cpu0'), Thermal()})]
    res = compare(db, SPEC, EventModel(), event_sets=sets, approaches=('oracle', 'nsga2'),
                  nsga_generations=10, nsga_population=20)
    by = {(r.approach, r.events): r for r in res}
    for events in sets:
        oracle, nsga = by[('oracle', events)], by[('nsga2', events)]
        if oracle.feasible:
            assert nsga.feasible and nsga.score <= oracle.score + 1e-9


def test_transfer_mapping_by_name_then_nearest():
    here = (Processor('cpu0', cores=(0,)), Processor('cpu1', cores=(1,)),
            Processor('cpu', threads=2, cores=(0, 1)))
    assert nearest_processor(OTHER[0], here, OTHER).name == 'cpu'
    assert nearest_processor(OTHER[1], here, OTHER).name == 'cpu0'
    assert nearest_processor(here[1], here, here).name == 'cpu1'
    assert nearest_processor(here[2], OTHER, here).name == 'big'
    db = synthetic_db(seed=1, tasks=TASKS, variants_per_task=1)
    v0 = db.task_variants(TASKS[0])[0].name
    v1 = db.task_variants(TASKS[1])[0].name
    joint = JointDesign((Design(TASKS[0], v0, 'big'), Design(TASKS[1], v1, 'little1')))
    mapped = map_design(joint, OTHER, db.processors, db)
    assert mapped.as_dict() == {TASKS[0]: f'{v0}@cpu', TASKS[1]: f'{v1}@cpu0'}
    assert map_events(frozenset({ProcessorOverloaded('cpu')}), db.processors, OTHER) == {
        ProcessorOverloaded('big')}


def test_single_task_spec_applies_app_slo_to_the_task():
    one = single_task_spec(SPEC, TASKS[1])
    assert one.tasks == (TASKS[1],)
    assert [str(c) for c in one.constraints] == [f'{TASKS[1]}.memory_mb <= 300']
    assert {o.metric for o in one.objectives} == {Metric.ACCURACY, Metric.THROUGHPUT}


def test_unknown_approach_is_rejected():
    db = synthetic_db(seed=1, tasks=TASKS, variants_per_task=1)
    with pytest.raises(ValueError, match='unknown approaches'):
        compare(db, SPEC, approaches=('magic',))

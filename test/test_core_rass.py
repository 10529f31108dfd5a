"""RASS against an independent brute force, events, lookups, fallbacks, YAML, errors."""
import math

import numpy as np
import pytest
from core_brute import best, evaluate, memory_reference, value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carin_ros.core.contention import ContentionModel
from carin_ros.core.events import (
    EventModel,
    LowBattery,
    MemoryPressure,
    ProcessorOverloaded,
    ProcessorUnavailable,
    Thermal,
)
from carin_ros.core.profiles import Metric
from carin_ros.core.rass import DesignSet, InfeasibleSLOError, Solver, resolve, solve
from carin_ros.core.slo import SloSpec
from carin_ros.core.synth import synthetic_db

MODEL = EventModel()
TASKS = ('image_classification', 'text_classification', 'face_analysis')


def make_spec(db, rng, n_tasks, rates=True, memory=True):
    tasks = list(TASKS[:n_tasks])
    slo: dict = {}
    for t in tasks:
        lat = sorted(db.get(d).latency_p90_ms for d in db.entries if d.task == t)
        if rng.random() < 0.7:
            slo[t] = {'latency_p90_ms': {'max': float(lat[len(lat) // 2]) * rng.uniform(1, 3)}}
        if rng.random() < 0.3:
            acc = sorted(db.get(d).accuracy for d in db.entries if d.task == t)
            slo.setdefault(t, {})['accuracy'] = {'min': float(acc[len(acc) // 3])}
    if memory and rng.random() < 0.6:
        slo['app'] = {'memory_mb': {'max': float(rng.uniform(60, 200)) * n_tasks}}
    choices = [('app', 'accuracy', 'max'), ('app', 'throughput_fps', 'max'),
               (tasks[0], 'latency_mean_ms', 'min'), ('app', 'memory_mb', 'min'),
               ('app', 'energy_mj', 'min')]
    picked = rng.choice(len(choices), size=int(rng.integers(1, 4)), replace=False)
    objectives: dict = {}
    for k in picked:
        scope, metric, direction = choices[k]
        objectives.setdefault(scope, {})[metric] = {'direction': direction,
                                                    'weight': float(rng.uniform(0.5, 2.0))}
    data = {'tasks': tasks, 'slo': slo, 'objectives': objectives}
    if rates:
        data['rates'] = {tasks[0]: float(rng.uniform(5, 60))}
    return SloSpec.from_dict(data)


def problem(seed, n_tasks=None, variants=None):
    rng = np.random.default_rng(seed)
    n_tasks = n_tasks or int(rng.integers(1, 4))
    variants = variants or int(rng.integers(1, 4 if n_tasks < 3 else 3))
    db = synthetic_db(seed=seed, tasks=TASKS[:n_tasks], variants_per_task=variants,
                      corun_fraction=float(rng.uniform(0, 0.6)))
    return db, make_spec(db, rng, n_tasks)


def _solve(db, spec, **kw):
    try:
        return solve(db, spec, MODEL, **kw)
    except InfeasibleSLOError:
        return None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_primary_equals_brute_force_optimum(seed):
    db, spec = problem(seed)
    joint, score, scores, rows = best(db, spec, MODEL)
    ds = _solve(db, spec)
    if joint is None:
        assert ds is None  # the solver raised InfeasibleSLOError too
        return
    assert ds is not None
    assert ds.primary.feasible and ds.primary.score == pytest.approx(score, abs=1e-9)
    ranked = sorted(scores, reverse=True)
    if len(ranked) < 2 or ranked[0] - ranked[1] > 1e-9:
        assert ds.primary.design == joint
    # the ranking is sorted and every ranked design is feasible with the brute-force score
    by_joint = {r.joint: (r, s) for r, s in zip(rows, scores, strict=True)}
    prev = math.inf
    for r in ds.ranking:
        row, s = by_joint[r.design]
        assert row.feasible and r.score == pytest.approx(s, abs=1e-9) and r.score <= prev + 1e-12
        prev = r.score
    assert ds.stats.candidates == sum(r.feasible for r in rows)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_every_answer_agrees_with_re_solving_its_event_set(seed):
    db, spec = problem(seed, n_tasks=2, variants=2)
    ds = _solve(db, spec)
    if ds is None:
        return
    ref = memory_reference(db, spec, MODEL)
    assert ds.memory_reference_mb == pytest.approx(ref)
    assert len(ds.answers) == len(MODEL.event_sets(db.processors, 2))
    for events, answer in ds.answers.items():
        joint, score, _, rows = best(db, spec, MODEL, events, ref)
        assert answer.feasible == (joint is not None), answer.key
        if joint is None:
            continue
        assert answer.score == pytest.approx(score, abs=1e-9), answer.key
        # the answer meets every SLO under its events (independent check)
        row = next(r for r in rows if r.joint == answer.design)
        assert row.feasible, answer.key


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_no_answer_uses_an_unavailable_processor(seed):
    db, spec = problem(seed, n_tasks=2)
    ds = _solve(db, spec)
    if ds is None:
        return
    for events, answer in ds.answers.items():
        gone = MODEL.effect(events, db.processors, db.n_cores).excluded
        for e in events:
            if isinstance(e, ProcessorUnavailable):
                assert e.processor in gone
        if answer.design is not None:
            assert not answer.design.processors() & gone, answer.key
        if isinstance(next(iter(events), None), LowBattery) and answer.design is not None:
            assert all(db.processor(p).threads == 1 for p in answer.design.processors())


def test_vectorised_joint_metrics_match_plain_contention_model():
    db = synthetic_db(seed=3, variants_per_task=2, corun_fraction=0.5)
    spec = SloSpec.from_dict({'tasks': list(TASKS), 'rates': {TASKS[1]: 20.0},
                              'objectives': {'app': {'accuracy': {}}}})
    solver = Solver(db, spec, MODEL)
    model = ContentionModel(db, dict(spec.rates))
    rows = next(solver.chunks(pruned=False))
    for k in range(0, len(rows), 7):
        joint = solver.joint(rows.idx[k])
        jm = model.joint(joint)
        for i, t in enumerate(spec.tasks):
            assert rows.slow[k, i] == pytest.approx(dict(jm.slowdown)[t])
            for m in (Metric.LATENCY_P90, Metric.THROUGHPUT, Metric.MEMORY):
                assert rows.value(t, m, None)[k] == pytest.approx(jm.value(t, m))
        for m in (Metric.LATENCY_P99, Metric.THROUGHPUT, Metric.ACCURACY, Metric.ENERGY):
            assert rows.value('app', m, None)[k] == pytest.approx(jm.value('app', m))


def test_contention_model_time_sharing_and_measured_coruns():
    db = synthetic_db(seed=1, tasks=TASKS[:2], variants_per_task=1, corun_fraction=0.0)
    model = ContentionModel(db)
    a0 = next(d for d in db.entries if d.task == TASKS[0] and d.processor == 'cpu0')
    b0 = next(d for d in db.entries if d.task == TASKS[1] and d.processor == 'cpu0')
    b1 = next(d for d in db.entries if d.task == TASKS[1] and d.processor == 'cpu1')
    bc = next(d for d in db.entries if d.task == TASKS[1] and d.processor == 'cpu')
    assert model.excess(a0, b0) == 1.0          # same core, saturated: time shared
    assert model.excess(a0, b1) == 0.0          # different cores
    assert model.excess(bc, a0) == 0.5          # the 2-core processor loses half
    rated = ContentionModel(db, {TASKS[1]: 10.0})
    assert rated.excess(a0, b0) == pytest.approx(10.0 * db.get(b0).latency_mean_ms / 1000)
    from carin_ros.core.profiles import CoRun
    db.coruns.append(CoRun(a0, b0, 1.4, 1.7))
    model = ContentionModel(db)
    assert model.excess(a0, b0) == pytest.approx(0.4)
    assert model.excess(b0, a0) == pytest.approx(0.7)


def test_infeasible_slo_names_constraints_and_closest_design():
    db = synthetic_db(seed=2, tasks=TASKS[:2], variants_per_task=2)
    spec = SloSpec.from_dict({'tasks': list(TASKS[:2]),
                              'slo': {TASKS[0]: {'latency_p90_ms': {'max': 0.5}},
                                      'app': {'memory_mb': {'max': 10_000.0}}},
                              'objectives': {'app': {'accuracy': {}}}})
    with pytest.raises(InfeasibleSLOError) as info:
        solve(db, spec, MODEL)
    err = info.value
    assert [str(c) for c in err.unmet] == [f'{TASKS[0]}.latency_p90_ms <= 0.5']
    assert err.closest is not None and err.metrics is not None
    assert 'Closest design' in str(err) and 'latency_p90_ms <= 0.5' in str(err)
    # the closest design has the lowest contended latency of task 0 over the joint space
    lowest = min(value(db, spec, j, TASKS[0], 'latency_p90_ms', {})
                 for j in db.design_space(spec.tasks))
    assert err.metrics.value(TASKS[0], Metric.LATENCY_P90) == pytest.approx(lowest)


def test_infeasible_event_set_gets_closest_design_flagged():
    db = synthetic_db(seed=4, tasks=TASKS[:2], variants_per_task=2)
    fast = max(db.get(d).latency_p90_ms for d in db.entries if d.task == TASKS[0])
    spec = SloSpec.from_dict({'tasks': list(TASKS[:2]),
                              'slo': {TASKS[0]: {'latency_p90_ms': {'max': fast * 1.05}}},
                              'objectives': {'app': {'accuracy': {}}}})
    heavy = EventModel(overload_latency_factor=50.0)
    ds = solve(db, spec, heavy)
    a = ds.answers[frozenset({ProcessorOverloaded('cpu0'), ProcessorOverloaded('cpu1')})]
    assert not a.feasible and a.score == 0.0 and a.design is not None
    assert a.violation > 0 and any('latency_p90_ms' in v for v in a.violated)
    both_gone = ds.answers[frozenset({ProcessorUnavailable('cpu0'),
                                      ProcessorUnavailable('cpu1')})]
    assert both_gone.design is None and not both_gone.feasible


def test_lookup_is_dict_lookup_and_fallback_is_flagged():
    db, spec = problem(7, n_tasks=2, variants=2)
    ds = solve(db, spec, MODEL)
    events = frozenset({ProcessorOverloaded('cpu0'), Thermal()})
    assert ds.lookup(events) is ds.answers[events]
    triple = frozenset({ProcessorOverloaded('cpu0'), Thermal(), MemoryPressure('high')})
    answer = ds.lookup(triple)
    assert not answer.precomputed and answer.events == triple
    ref = memory_reference(db, spec, MODEL)
    rows, _ = evaluate(db, spec, MODEL, triple, ref)
    feasible = {r.joint for r in rows if r.feasible}
    if answer.feasible:
        assert answer.design in feasible
    else:
        assert not (feasible & {a.design for a in ds.answers.values()} |
                    feasible & {r.design for r in ds.ranking})
    critical = frozenset({MemoryPressure('critical'), Thermal()})
    assert ds.lookup({MemoryPressure('0.5'), Thermal()}) is ds.answers[critical]
    odd = ds.lookup({MemoryPressure('0.6')})
    assert not odd.precomputed
    gone = frozenset({ProcessorUnavailable('cpu0'), Thermal(), LowBattery()})
    answer = ds.lookup(gone)
    if answer.design is not None:
        assert not answer.design.processors() & {'cpu0', 'cpu'}


def test_design_set_yaml_round_trip(tmp_path):
    db, spec = problem(11, n_tasks=3, variants=2)
    ds = solve(db, spec, MODEL, keep=10)
    path = tmp_path / 'set.yaml'
    ds.save(path)
    back = DesignSet.load(path)
    assert back.answers.keys() == ds.answers.keys()
    for k, a in ds.answers.items():
        b = back.answers[k]
        assert (b.design, b.feasible, b.violated) == (a.design, a.feasible, a.violated)
        assert b.score == pytest.approx(a.score)
        if a.metrics is not None:
            for t in spec.tasks:
                assert b.metrics.value(t, Metric.LATENCY_P90) == pytest.approx(
                    a.metrics.value(t, Metric.LATENCY_P90))
    assert [r.design for r in back.ranking] == [r.design for r in ds.ranking]
    triple = frozenset({ProcessorOverloaded('cpu1'), Thermal(), LowBattery()})
    assert back.lookup(triple).design == ds.lookup(triple).design
    path.write_text('schema_version: 1\nspec: {}\n')
    with pytest.raises(ValueError, match='not a design set'):
        DesignSet.load(path)


def test_resolve_matches_precomputed_answer():
    ds = None
    for seed in range(5, 60):
        db, spec = problem(seed, n_tasks=3, variants=2)
        ds = _solve(db, spec)
        if ds is not None:
            break
    assert ds is not None
    for events in list(ds.answers)[:12]:
        a = resolve(db, spec, events, MODEL)
        assert a.feasible == ds.answers[events].feasible
        if a.feasible:
            assert a.score == pytest.approx(ds.answers[events].score)


def test_energy_constraint_without_measured_energy_is_a_clear_error():
    db = synthetic_db(seed=1, tasks=TASKS[:1], variants_per_task=2, energy=False)
    spec = SloSpec.from_dict({'tasks': [TASKS[0]], 'objectives': {'app': {'energy_mj': {}}}})
    with pytest.raises(ValueError, match='energy_mj'):
        solve(db, spec, MODEL)


def test_unknown_task_is_a_clear_error():
    db = synthetic_db(seed=1, tasks=TASKS[:1], variants_per_task=1)
    spec = SloSpec.from_dict({'tasks': ['speech'], 'objectives': {'app': {'accuracy': {}}}})
    with pytest.raises(ValueError, match="speech"):
        solve(db, spec, MODEL)


def test_likely_designs_start_with_the_primary_and_cover_the_answers():
    from carin_ros.core.events import EventModel
    from carin_ros.core.rass import solve
    from carin_ros.core.slo import SloSpec
    from carin_ros.core.synth import synthetic_db
    tasks = ['image_classification', 'text_classification']
    db = synthetic_db(seed=5, tasks=tasks, variants_per_task=3)
    spec = SloSpec.from_dict({'tasks': tasks, 'objectives': {'app': {'accuracy': {},
                                                                     'throughput_fps': {}}}})
    ds = solve(db, spec, EventModel())
    for task in tasks:
        likely = ds.likely_designs(task)
        assert likely[0] == ds.primary.design.for_task(task)
        assert len(set(likely)) == len(likely)
        used = {a.design.for_task(task) for a in ds.answers.values() if a.design is not None}
        assert set(likely) == used
        # the most used answer for single events comes right after the primary
        singles: dict = {}
        for events, a in ds.answers.items():
            if len(events) == 1 and a.design is not None:
                d = a.design.for_task(task)
                singles[d] = singles.get(d, 0) + 1
        if len(likely) > 1:
            assert likely[1] in singles or not singles


def test_warm_fallbacks_answer_larger_event_sets_in_advance():
    import itertools

    from carin_ros.core.events import EventModel, MemoryPressure
    from carin_ros.core.rass import solve
    from carin_ros.core.slo import SloSpec
    from carin_ros.core.synth import synthetic_db
    tasks = ['image_classification', 'text_classification']
    db = synthetic_db(seed=5, tasks=tasks, variants_per_task=3)
    spec = SloSpec.from_dict({'tasks': tasks, 'objectives': {'app': {'accuracy': {}}}})
    cold, warm = solve(db, spec, EventModel()), solve(db, spec, EventModel())
    singles = sorted({e for k in warm.answers if len(k) == 1 for e in k}, key=lambda e: e.key)
    triples = [frozenset(c) for c in itertools.combinations(singles, 3)
               if sum(isinstance(e, MemoryPressure) for e in c) <= 1]
    assert triples and not any(t in warm.answers for t in triples)
    assert warm.warm_fallbacks() == len(triples)
    assert warm.warm_fallbacks() == 0  # nothing left to do
    for t in triples:
        a = warm.lookup(t)
        assert a is warm.lookup(t) and not a.precomputed   # remembered, not re-evaluated
        b = cold.lookup(t)                                  # evaluated on demand: the same
        assert (a.design, a.feasible, a.score) == (b.design, b.feasible, b.score)
    assert solve(db, spec, EventModel()).warm_fallbacks(stop=lambda: True) == 0

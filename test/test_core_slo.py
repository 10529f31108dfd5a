"""SLO spec: YAML, ROS parameter round trip, validation and clear errors."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carin_ros.core.profiles import Metric
from carin_ros.core.slo import (
    APP,
    Bound,
    Constraint,
    Direction,
    Objective,
    ParamType,
    SloError,
    SloSpec,
    aggregate,
    param_descriptors,
    validate_param,
)

EXAMPLE = {
    'tasks': ['image_classification', 'text_classification'],
    'slo': {'image_classification': {'latency_p90_ms': {'max': 40.0}, 'accuracy': {'min': 0.70}},
            'app': {'memory_mb': {'max': 300.0}}},
    'objectives': {'image_classification': {'accuracy': {'direction': 'max', 'weight': 1.0},
                                             'throughput_fps': {'direction': 'max',
                                                                'weight': 1.0}}},
    'rates': {'image_classification': 30.0},
}


def test_example_maps_onto_flat_ros_params():
    spec = SloSpec.from_dict(EXAMPLE)
    params = spec.to_ros_params()
    assert params['tasks'] == ['image_classification', 'text_classification']
    assert params['slo.image_classification.latency_p90_ms.max'] == 40.0
    assert params['slo.app.memory_mb.max'] == 300.0
    assert params['objectives.image_classification.accuracy.direction'] == 'max'
    assert params['objectives.image_classification.throughput_fps.weight'] == 1.0
    assert params['rates.image_classification'] == 30.0
    assert SloSpec.from_ros_params(params) == spec
    assert SloSpec.from_dict(spec.to_dict()) == spec


def test_full_params_cover_every_descriptor_and_round_trip():
    spec = SloSpec.from_dict(EXAMPLE)
    infos = param_descriptors(spec.tasks)
    full = spec.to_ros_params(full=True)
    assert set(full) == {p.name for p in infos}
    # every metric x bound for each task and the app
    for scope in [*spec.tasks, APP]:
        for m in Metric:
            for b in ('min', 'max'):
                assert f'slo.{scope}.{m.value}.{b}' in full
    assert math.isnan(full['slo.text_classification.latency_p99_ms.max'])
    assert full['objectives.app.energy_mj.weight'] == 0.0
    assert SloSpec.from_ros_params(full) == spec
    for p in infos:
        if p.type is ParamType.DOUBLE:
            assert isinstance(full[p.name], float)
        assert validate_param(p.name, full[p.name], spec.tasks) is None, p.name
    # other node parameters are ignored
    assert SloSpec.from_ros_params({**full, 'use_sim_time': False}) == spec


scopes = st.sampled_from(['a', 'b', APP])
metrics = st.sampled_from(list(Metric))


@st.composite
def specs(draw):
    tasks = ('a', 'b')
    cons = {}
    for _ in range(draw(st.integers(0, 6))):
        m = draw(metrics)
        hi = 1.0 if m is Metric.ACCURACY else 1e4
        cons[(draw(scopes), m, draw(st.sampled_from(list(Bound))))] = draw(
            st.floats(0.0, hi, allow_nan=False))
    cons = {k: v for k, v in cons.items()
            if not (k[2] is Bound.MIN and cons.get((k[0], k[1], Bound.MAX), math.inf) < v)}
    objs = {}
    for _ in range(draw(st.integers(1, 4))):
        objs[(draw(scopes), draw(metrics))] = (draw(st.sampled_from(list(Direction))),
                                               draw(st.floats(0.01, 10.0)))
    rates = draw(st.dictionaries(st.sampled_from(tasks), st.floats(0.1, 120.0)))
    return SloSpec(tasks, tuple(Constraint(s, m, b, v) for (s, m, b), v in cons.items()),
                   tuple(Objective(s, m, d, w) for (s, m), (d, w) in objs.items()),
                   tuple(rates.items()))


@settings(max_examples=40, deadline=None)
@given(specs())
def test_round_trip_yaml_and_ros_params(spec):
    assert SloSpec.from_dict(spec.to_dict()) == _canonical(spec)
    assert _canonical(SloSpec.from_ros_params(spec.to_ros_params())) == _canonical(spec)
    assert _canonical(SloSpec.from_ros_params(spec.to_ros_params(full=True))) == \
        _canonical(spec)


def _canonical(spec: SloSpec) -> SloSpec:
    return SloSpec(spec.tasks, tuple(sorted(spec.constraints, key=str)),
                   tuple(sorted(spec.objectives, key=lambda o: o.name)),
                   tuple(sorted(spec.rates)))


def test_yaml_file_round_trip(tmp_path):
    spec = SloSpec.from_dict(EXAMPLE)
    path = tmp_path / 's.yaml'
    spec.save(path)
    assert SloSpec.load(path) == spec


@pytest.mark.parametrize('patch, needle', [
    ({'slo': {'image_classification': {'latency_p95_ms': {'max': 3}}}},
     'slo.image_classification.latency_p95_ms: unknown metric'),
    ({'slo': {'video': {'accuracy': {'min': 0.5}}}}, 'slo.video: unknown task'),
    ({'slo': {'app': {'accuracy': {'min': 1.5}}}}, 'slo.app.accuracy.min'),
    ({'slo': {'app': {'memory_mb': {'at_most': 3}}}}, 'slo.app.memory_mb.at_most'),
    ({'slo': {'app': {'memory_mb': {'max': 'lots'}}}}, 'must be a number'),
    ({'slo': {'app': {'memory_mb': {'min': 50, 'max': 10}}}}, 'min 50 > max 10'),
    ({'objectives': {'app': {'accuracy': {'direction': 'up'}}}},
     'objectives.app.accuracy.direction'),
    ({'objectives': {'app': {'accuracy': {'weight': -1}}}}, 'objectives.app.accuracy.weight'),
    ({'objectives': {}}, 'at least one objective'),
    ({'rates': {'image_classification': 0}}, 'rates.image_classification'),
    ({'tasks': 'image_classification'}, '"tasks" must be a list'),
    ({'tasks': ['app']}, 'task name'),
    ({'bogus': 1}, 'unknown keys'),
])
def test_bad_specs_name_file_and_field(tmp_path, patch, needle):
    import yaml
    data = {**EXAMPLE, **patch}
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SloError) as info:
        SloSpec.load(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


def test_malformed_yaml_and_missing_file(tmp_path):
    path = tmp_path / 'x.yaml'
    path.write_text('tasks: [a\n')
    with pytest.raises(SloError, match='malformed YAML'):
        SloSpec.load(path)
    with pytest.raises(SloError, match='cannot read'):
        SloSpec.load(tmp_path / 'missing.yaml')


@pytest.mark.parametrize('name, value, ok', [
    ('slo.image_classification.latency_p90_ms.max', 25.0, True),
    ('slo.image_classification.latency_p90_ms.max', math.nan, True),
    ('slo.image_classification.latency_p90_ms.max', -1.0, False),
    ('slo.image_classification.latency_p90_ms.max', 'fast', False),
    ('slo.image_classification.accuracy.min', 1.2, False),
    ('slo.app.throughput_fps.min', 10, True),
    ('slo.video.accuracy.min', 0.5, False),
    ('slo.app.speed.min', 0.5, False),
    ('slo.app.accuracy.above', 0.5, False),
    ('objectives.app.accuracy.direction', 'max', True),
    ('objectives.app.accuracy.direction', 'maximise', False),
    ('objectives.app.accuracy.weight', 0.0, True),
    ('objectives.app.accuracy.weight', math.inf, False),
    ('rates.text_classification', 5.0, True),
    ('rates.video', 5.0, False),
    ('camera.fps', 5.0, False),
])
def test_validate_param(name, value, ok):
    reason = validate_param(name, value, EXAMPLE['tasks'])
    assert (reason is None) == ok, reason


def test_with_param_updates_and_rejects_inconsistency():
    spec = SloSpec.from_dict(EXAMPLE)
    tighter = spec.with_param('slo.image_classification.latency_p90_ms.max', 20.0)
    assert tighter.bound('image_classification', Metric.LATENCY_P90, Bound.MAX) == 20.0
    cleared = spec.with_param('slo.image_classification.latency_p90_ms.max', math.nan)
    assert cleared.bound('image_classification', Metric.LATENCY_P90, Bound.MAX) is None
    new_obj = spec.with_param('objectives.app.energy_mj.weight', 2.0)
    assert any(o.metric is Metric.ENERGY and o.direction is Direction.MIN
               for o in new_obj.objectives)
    with pytest.raises(SloError, match='min 0.7 > max 0.5'):
        spec.with_param('slo.image_classification.accuracy.max', 0.5)
    capped = spec.with_param('slo.image_classification.accuracy.max', 0.8)
    with pytest.raises(SloError, match='min 0.9 > max 0.8'):
        capped.with_param('slo.image_classification.accuracy.min', 0.9)
    with pytest.raises(SloError, match='cannot change at run time'):
        spec.with_param('tasks', ['x'])
    with pytest.raises(SloError, match='not an SLO parameter'):
        spec.with_param('slo.video.accuracy.min', 0.5)


def test_aggregate_rules():
    assert aggregate(Metric.LATENCY_P90, [3.0, 5.0]) == 5.0
    assert aggregate(Metric.THROUGHPUT, [30.0, 10.0]) == 10.0
    assert aggregate(Metric.ACCURACY, [0.5, 0.7]) == pytest.approx(0.6)
    assert aggregate(Metric.MEMORY, [10.0, 20.0]) == 30.0

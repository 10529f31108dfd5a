"""Scenario timelines: parsing, errors naming the field, phase and SLO lookups."""
from __future__ import annotations

import pytest

from carin_ros.evaluation.scenario import (
    HogStart,
    MemoryHold,
    ScenarioError,
    SetSlo,
    StopHogs,
    load,
    parse,
)

BASE = {'usecase': 'uc1', 'duration_s': 30.0, 'window_s': 1.0,
        'memory_levels': {'high': {'enter_below': 0.1, 'exit_below': 0.05}},
        'phases': [{'at_s': 0.0, 'name': 'steady'},
                   {'at_s': 10.0, 'name': 'hog', 'actions': [{'hog': {'core': 'task'}}]},
                   {'at_s': 20.0, 'name': 'slo', 'actions': [
                       {'stop_hogs': True}, {'memory': {'hold_mb': 100}},
                       {'slo': {'slo.t.latency_p90_ms.max': 20}}]}]}


def test_parse_and_queries() -> None:
    s = parse(BASE, 'x.yaml')
    assert s.phase_at(0.0).name == 'steady' and s.phase_at(19.9).name == 'hog'
    assert s.phase_at(25.0).name == 'slo'
    assert s.phases[1].actions == (HogStart('task'),)
    assert s.phases[2].actions == (StopHogs(), MemoryHold(100.0),
                                   SetSlo((('slo.t.latency_p90_ms.max', 20.0),)))
    assert s.slo_params_at(19.0) == {} and s.slo_params_at(20.0) == {
        'slo.t.latency_p90_ms.max': 20.0}
    assert [p.name for p in s.disturbances()] == ['hog', 'slo']
    levels = s.detection_memory(0.9)
    assert levels['high']['enter_available'] == pytest.approx(0.8)
    assert levels['high']['exit_available'] == pytest.approx(0.85)
    assert s.detection_memory(0.05)['high']['enter_available'] == 0.005


def test_shipped_scenario_loads() -> None:
    s = load('config/usecases/scenario.yaml')
    assert s.usecase == 'uc1' and len(s.disturbances()) >= 5


@pytest.mark.parametrize('change, message', [
    ({'phases': []}, 'phases: expected a non-empty list'),
    ({'duration_s': -1}, 'duration_s: must be > 0'),
    ({'usecase': 3}, 'usecase'),
    ({'bogus': 1}, "unknown keys ['bogus']"),
    ({'phases': [{'at_s': 5.0, 'name': 'a'}]}, 'phases[0].at_s: the first phase must start'),
    ({'phases': [{'at_s': 0.0, 'name': 'a'}, {'at_s': 0.0, 'name': 'b'}]},
     'phases[1].at_s: phases must start in increasing order'),
    ({'phases': [{'at_s': 0.0, 'name': 'a'}, {'at_s': 40.0, 'name': 'b'}]},
     'phases[1].at_s: must be in [0, duration_s=30)'),
    ({'phases': [{'at_s': 0.0, 'name': 'a', 'actions': [{'hog': {'core': 'gpu'}}]}]},
     'phases[0].actions[0].hog.core'),
    ({'phases': [{'at_s': 0.0, 'name': 'a', 'actions': [{'nap': 1}]}]},
     'phases[0].actions[0].nap: unknown action'),
    ({'phases': [{'at_s': 0.0, 'name': 'a', 'actions': [{'memory': {'hold_mb': 0}}]}]},
     'hold_mb: must be > 0'),
    ({'phases': [{'at_s': 0.0, 'name': 'a', 'actions': [{'slo': {'rate': 1.0}}]}]},
     "'rate' is not an SLO parameter"),
    ({'memory_levels': {'high': {'enter_below': 0.1, 'exit_below': 0.2}}},
     'memory_levels.high: need 0 <= exit_below < enter_below'),
])
def test_errors_name_the_field(change: dict, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse({**BASE, **change}, 'x.yaml')
    assert message in str(err.value) and str(err.value).startswith('x.yaml')


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(ScenarioError, match='cannot read'):
        load(tmp_path / 'none.yaml')


@pytest.mark.parametrize('usecase', ['uc1', 'uc2', 'uc3'])
def test_usecase_presets_load(usecase: str) -> None:
    from carin_ros.core.slo import SloSpec
    spec = SloSpec.load(f'config/usecases/{usecase}.yaml')
    assert spec.objectives and any(c.metric.is_latency for c in spec.constraints)


def test_scenario_slo_changes_fit_its_usecase() -> None:
    from carin_ros.core.slo import SloSpec
    s = load('config/usecases/scenario.yaml')
    spec = SloSpec.load(f'config/usecases/{s.usecase}.yaml')
    for p in s.phases:
        for name, value in s.slo_params_at(p.at_s).items():
            spec.with_param(name, value)  # raises SloError when the name or value is wrong

"""Runtime strategies: CARIn lookup, static design, OODIn-style re-solving; manager parameter."""
from __future__ import annotations

import json
import time

import pytest
import yaml
from ros_harness import Graph, Probe
from std_msgs.msg import String

from carin_ros.core.events import Event, EventModel
from carin_ros.core.rass import resolve, solve
from carin_ros.core.slo import SloSpec
from carin_ros.core.synth import synthetic_db
from carin_ros.evaluation.strategies import (
    ResolvingPolicy,
    StaticPolicy,
    Strategy,
    make_policy,
    parse_strategy,
)
from carin_ros.nodes.common import LATCHED_QOS

TASK = 'image_classification'
SLO = {'tasks': [TASK], 'slo': {TASK: {'latency_p90_ms': {'max': 60.0}}},
       'objectives': {TASK: {'latency_mean_ms': {'direction': 'min', 'weight': 1.0}}}}
ACC_PARAM = f'slo.{TASK}.accuracy.min'


def _setup():
    db = synthetic_db(seed=3, tasks=(TASK,), variants_per_task=6)
    spec = SloSpec.from_dict(SLO)
    model = EventModel()
    return db, spec, model, solve(db, spec, model)


def _moving_event(ds) -> Event:
    """A single event whose precomputed answer differs from the primary design."""
    for events, answer in ds.answers.items():
        (event, *more) = events or (None,)
        if event is not None and not more and \
                answer.design not in (None, ds.primary.design):
            return event
    raise AssertionError('no event moves the design: the fixture needs another seed')


def test_parse_strategy() -> None:
    assert parse_strategy('oodin') is Strategy.OODIN
    with pytest.raises(ValueError, match='carin.*static.*oodin'):
        parse_strategy('fastest')


def test_carin_switches_static_never_does() -> None:
    db, spec, model, ds = _setup()
    primary = ds.primary.design
    busy = _moving_event(ds)
    expected = ds.lookup([busy]).design

    carin = make_policy(Strategy.CARIN, ds, db)
    carin.set_event(busy, True)
    d = carin.decide(time.time())
    assert d.design == expected and d.changed and d.precomputed

    static = make_policy(Strategy.STATIC, ds, db)
    assert isinstance(static, StaticPolicy)
    static.set_event(busy, True)
    d = static.decide(time.time())
    assert d.design == primary and not d.changed and d.events == frozenset({busy})
    # A new design set (an SLO change) does not move a static deployment either.
    best_acc = max(m.accuracy for m in db.entries.values())
    stricter = solve(db, spec.with_param(ACC_PARAM, best_acc - 0.005), model)
    assert stricter.primary.design != primary
    static.set_design_set(stricter)
    static.set_event(busy, False)
    assert static.decide(time.time()).design == primary


def test_oodin_resolves_on_event_changes_only() -> None:
    db, spec, model, ds = _setup()
    policy = make_policy(Strategy.OODIN, ds, db)
    assert isinstance(policy, ResolvingPolicy)
    assert policy.decide(time.time()).design == ds.primary.design
    assert policy.solves == 0  # the start-up design needs no solve
    busy = _moving_event(ds)
    policy.set_event(busy, True)
    d = policy.decide(time.time())
    assert policy.solves == 1 and not d.precomputed and d.decision_time_s > 0
    assert d.design == resolve(db, spec, [busy], model).design
    policy.decide(time.time())
    assert policy.solves == 1  # same events: no new solve
    policy.set_event(busy, False)
    assert policy.decide(time.time()).design == ds.primary.design
    assert policy.solves == 2


def _files(tmp_path) -> tuple[str, str]:
    db, *_ = _setup()
    db_path, slo_path = str(tmp_path / 'profile.yaml'), str(tmp_path / 'slo.yaml')
    db.save(db_path)
    with open(slo_path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(SLO, f)
    return db_path, slo_path


def test_manager_rejects_unknown_strategy(graph: Graph, tmp_path) -> None:
    db_path, slo_path = _files(tmp_path)
    proc = graph.start('manager', name='carin_manager', params={
        'profile_db': db_path, 'slo_file': slo_path, 'strategy': 'fastest'})
    proc.popen.wait(timeout=60)
    assert proc.popen.returncode != 0
    assert "strategy 'fastest'" in proc.log_tail()


def test_manager_static_keeps_design_on_slo_change(ros_probe: Probe, graph: Graph,
                                                   tmp_path) -> None:
    db_path, slo_path = _files(tmp_path)
    db, spec, model, ds = _setup()
    primary = ds.primary.design.as_dict()
    best_acc = max(m.accuracy for m in db.entries.values())
    active = ros_probe.collect(String, '/carin/active_designs', LATCHED_QOS)
    graph.start('manager', name='carin_manager', params={
        'profile_db': db_path, 'slo_file': slo_path, 'strategy': 'static',
        'max_simultaneous': 1})
    ros_probe.wait_for(lambda: bool(active), 60, 'start-up design')
    assert json.loads(active[-1][1].data)['designs'] == primary
    n = len(active)
    results = ros_probe.set_parameters('carin_manager', {ACC_PARAM: best_acc - 0.005})
    assert results[0].successful, results[0].reason
    ros_probe.wait_for(lambda: len(active) > n, 60, 'decision after the re-solve')
    assert json.loads(active[-1][1].data)['designs'] == primary

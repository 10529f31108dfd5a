"""carin_manager in its own process: SLO parameters from another process, rejection, service."""
from __future__ import annotations

import json
import math

import yaml
from ros_harness import Graph, Probe
from std_msgs.msg import String
from std_srvs.srv import Trigger

from carin_ros.core.rass import solve
from carin_ros.core.slo import SloSpec
from carin_ros.core.synth import synthetic_db
from carin_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS

TASK = 'image_classification'
SLO = {'tasks': [TASK], 'slo': {TASK: {'latency_p90_ms': {'max': 60.0}}},
       'objectives': {TASK: {'latency_mean_ms': {'direction': 'min', 'weight': 1.0}}}}
ACC_PARAM = f'slo.{TASK}.accuracy.min'
LAT_PARAM = f'slo.{TASK}.latency_p90_ms.max'


def _files(tmp_path) -> tuple[str, str, object]:
    db = synthetic_db(seed=3, tasks=(TASK,), variants_per_task=6)
    db_path = str(tmp_path / 'profile.yaml')
    db.save(db_path)
    slo_path = str(tmp_path / 'slo.yaml')
    with open(slo_path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(SLO, f)
    return db_path, slo_path, db


def _designs(box: list) -> dict[str, str] | None:
    return json.loads(box[-1][1].data)['designs'] if box else None


def test_slo_parameters_from_another_process(ros_probe: Probe, graph: Graph, tmp_path) -> None:
    db_path, slo_path, db = _files(tmp_path)
    spec = SloSpec.load(slo_path)
    fastest = solve(db, spec).primary.design.as_dict()
    # A stricter accuracy floor the fastest design misses: the oracle is the core's solver.
    best_acc = max(m.accuracy for d, m in db.entries.items())
    floor = round(best_acc - 0.005, 4)
    stricter = solve(db, spec.with_param(ACC_PARAM, floor)).primary.design.as_dict()
    assert stricter != fastest

    active = ros_probe.collect(String, '/carin/active_designs', LATCHED_QOS)
    switch_log = ros_probe.collect(String, '/carin/switch_log', RELIABLE_QOS)
    graph.start('manager', name='carin_manager',
                params={'profile_db': db_path, 'slo_file': slo_path, 'max_simultaneous': 1})
    ros_probe.wait_for(lambda: _designs(active) == fastest, 60, f'primary design {fastest}')

    # Out of range: rejected with a reason, nothing changes.
    results = ros_probe.set_parameters('carin_manager', {LAT_PARAM: -5.0})
    assert not results[0].successful and results[0].reason
    assert LAT_PARAM in results[0].reason
    results = ros_probe.set_parameters('carin_manager', {ACC_PARAM: 1.5})
    assert not results[0].successful and 'must be in [0, 1]' in results[0].reason
    # Inconsistent with the rest of the spec (min above max on the same metric).
    results = ros_probe.set_parameters('carin_manager', {
        f'slo.{TASK}.latency_p90_ms.min': 80.0})
    assert not results[0].successful and results[0].reason
    assert ros_probe.get_parameters('carin_manager', [LAT_PARAM, ACC_PARAM])[0] == 60.0
    assert math.isnan(ros_probe.get_parameters('carin_manager', [ACC_PARAM])[0])
    ros_probe.spin_for(0.5)
    assert _designs(active) == fastest

    # A valid SLO change re-solves in the background and changes the active design.
    n = len(active)
    results = ros_probe.set_parameters('carin_manager', {ACC_PARAM: floor})
    assert results[0].successful, results[0].reason
    ros_probe.wait_for(lambda: _designs(active) == stricter, 60, f'design {stricter}')
    assert len(active) > n
    assert json.loads(active[-1][1].data)['reason'] == 'SLO parameters changed'
    assert ros_probe.get_parameters('carin_manager', [ACC_PARAM])[0] == floor

    # The design set service answers with the current designs and the whole set.
    reply = ros_probe.call(Trigger, '/carin/get_design_set', Trigger.Request())
    assert reply.success
    body = yaml.safe_load(reply.message)
    assert body['current']['designs'] == stricter
    assert 'design_set' in body
    # No task node runs: the manager keeps waiting, it never claims a switch happened.
    assert not [e for e in switch_log if json.loads(e[1].data)['kind'] == 'switch_requested']

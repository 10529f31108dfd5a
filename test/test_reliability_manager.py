"""Manager faults with real processes: infeasible SLOs, a restarted task node, a silent
monitor, and profile databases of another zoo version refused at start."""
from __future__ import annotations

import json

import pytest
import yaml
from ros_harness import ROOT, Graph, Probe
from std_msgs.msg import String

from carin_ros.core.profiles import Metrics, ProfileDB
from carin_ros.core.space import Design, Processor
from carin_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS
from carin_ros.zoo.manifest import Zoo

TASK = 'image_classification'
FAST, ACCURATE = 'efficientnet_lite0_int8', 'efficientnet_lite1_int8'
LAT_PARAM = f'slo.{TASK}.latency_p90_ms.max'


@pytest.fixture(scope='module')
def zoo() -> Zoo:
    return Zoo.load()


def _db(zoo: Zoo, version: str | None = None) -> ProfileDB:
    """A profile of two real variants on two single-core processors: FAST is faster, ACCURATE
    more accurate (made-up figures; the nodes only need consistent ones)."""
    procs = [Processor('cpu0', threads=1, cores=(0,)), Processor('cpu1', threads=1, cores=(1,))]
    variants = [zoo.variant(TASK, name).core_variant() for name in (FAST, ACCURATE)]
    db = ProfileDB('test device', procs, variants, n_cores=2,
                   zoo_version=zoo.version if version is None else version)
    for name, lat, acc in ((FAST, 8.0, 0.70), (ACCURATE, 12.0, 0.75)):
        for p, slow in (('cpu0', 1.0), ('cpu1', 1.1)):
            t = lat * slow
            db.add(Design(TASK, name, p), Metrics(acc, t, 0.5, t, t * 1.1, t * 1.2, 1e3 / t,
                                                  40.0, 5.0))
    return db


def _write(tmp_path, name: str, data) -> str:
    path = str(tmp_path / name)
    with open(path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f)
    return path


def _last(box: list) -> dict | None:
    return json.loads(box[-1][1].data) if box else None


def _kinds(box: list) -> list[str]:
    return [json.loads(m.data).get('kind', '') for _, m in box]


def test_infeasible_restart_and_silent_monitor(ros_probe: Probe, graph: Graph, zoo: Zoo,
                                               tmp_path) -> None:
    db_path = str(tmp_path / 'profile.yaml')
    _db(zoo).save(db_path)
    # Nothing runs in 1 ms: infeasible; the closest design is the fastest one.
    slo_path = _write(tmp_path, 'slo.yaml', {
        'tasks': [TASK], 'slo': {TASK: {'latency_p90_ms': {'max': 1.0}}},
        'objectives': {TASK: {'accuracy': {'direction': 'max', 'weight': 1.0}}}})
    closest = f'{FAST}@cpu0'
    # Other jobs on this shared machine must not raise overload events during the test.
    with open(f'{ROOT}/config/events.yaml', encoding='utf-8') as f:
        events = yaml.safe_load(f)
    events['detection']['overload'] = {'enter_pct': 100.0, 'exit_pct': 99.0,
                                       'enter_hold_s': 3600.0, 'exit_hold_s': 1.0}
    events_path = _write(tmp_path, 'events.yaml', events)
    status = ros_probe.collect(String, '/carin/slo_status', LATCHED_QOS)
    active = ros_probe.collect(String, '/carin/active_designs', LATCHED_QOS)
    log = ros_probe.collect(String, '/carin/switch_log', RELIABLE_QOS)
    monitor = graph.start('resource_monitor', params={'rate_hz': 5.0})
    ic_params = {'task': TASK, 'design': f'{ACCURATE}@cpu1', 'profile_db': db_path,
                 'warmup_runs': 1}
    ic = graph.start('task_node', name='ic', params=ic_params)
    graph.start('manager', name='carin_manager', params={
        'profile_db': db_path, 'slo_file': slo_path, 'max_simultaneous': 1,
        'events_file': events_path, 'task_nodes': [f'{TASK}=ic'],
        'device_state_timeout_s': 3.0, 'verify_period_s': 1.0, 'status_period_s': 0.5})

    # 1. Infeasible SLOs: the manager stays up, names the constraint and the closest design,
    #    and serves it.
    ros_probe.wait_for(lambda: 'infeasible' in (_last(status) or {}), 90,
                       'an infeasible report on slo_status')
    report = _last(status)['infeasible']
    assert 'latency_p90_ms <= 1' in report and 'Closest design' in report and closest in report
    assert _last(status)['met'] is False
    ros_probe.wait_for(lambda: (_last(active) or {}).get('designs') == {TASK: closest}, 30,
                       'the closest design as active')
    assert _last(active)['feasible'] is False
    ros_probe.wait_for(lambda: ros_probe.get_parameters('ic', ['design'])[0] == closest, 90,
                       'the task node serving the closest design')

    # 2. The task node dies and comes back with another design: the manager re-applies.
    ic.popen.kill()
    ic.popen.wait(10)
    graph.procs.remove(ic)
    graph.start('task_node', name='ic', params=ic_params)
    ros_probe.wait_for(lambda: 'design_reapplied' in _kinds(log), 120,
                       'the manager noticing the restarted node')
    ros_probe.wait_for(lambda: ros_probe.get_parameters('ic', ['design'])[0] == closest, 60,
                       'the restarted node serving the closest design again')

    # 3. The monitor goes silent: device state marked stale, the design kept and reported.
    assert (_last(status) or {})['device_state']['stale'] is False
    monitor.popen.kill()
    monitor.popen.wait(10)
    graph.procs.remove(monitor)
    ros_probe.wait_for(lambda: 'device_state_stale' in _kinds(log), 30, 'a stale report')
    stale = [json.loads(m.data) for _, m in log if 'device_state_stale' in m.data][-1]
    assert stale['kept'] == {TASK: closest}
    ros_probe.wait_for(lambda: _last(status)['device_state']['stale'] is True, 10,
                       'stale device state on slo_status')
    assert _last(active)['designs'] == {TASK: closest}

    # 4. Feasible SLOs again: re-solved, the report cleared, the most accurate design served.
    result = ros_probe.set_parameters('carin_manager', {LAT_PARAM: 100.0})
    assert result[0].successful, result[0].reason
    ros_probe.wait_for(lambda: 'infeasible' not in _last(status), 60, 'the report cleared')
    ros_probe.wait_for(lambda: _last(active)['designs'][TASK].startswith(ACCURATE), 30,
                       'the accurate design once feasible')


def test_profile_of_another_zoo_version_is_refused(ros_probe: Probe, graph: Graph, zoo: Zoo,
                                                   tmp_path) -> None:
    db_path = str(tmp_path / 'old.yaml')
    _db(zoo, version='0.0.0-old').save(db_path)
    slo_path = _write(tmp_path, 'slo.yaml', {'tasks': [TASK], 'objectives': {
        TASK: {'accuracy': {'direction': 'max', 'weight': 1.0}}}})
    manager = graph.start('manager', name='carin_manager',
                          params={'profile_db': db_path, 'slo_file': slo_path})
    node = graph.start('task_node', name='ic', params={'task': TASK, 'profile_db': db_path,
                                                       'design': f'{FAST}@cpu0'})
    for proc in (manager, node):
        assert proc.popen.wait(120) == 2, proc.log_tail()
        text = proc.log_tail()
        assert 'zoo version 0.0.0-old' in text and f'is version {zoo.version}' in text, text
        assert db_path in text and 'Traceback' not in text, text
    graph.procs.clear()


@pytest.mark.parametrize('case', ['corrupt', 'provider', 'bad_param'])
def test_bad_task_node_configuration_ends_with_a_clear_error(ros_probe: Probe, graph: Graph,
                                                             zoo: Zoo, tmp_path,
                                                             case: str) -> None:
    params: dict = {'task': TASK, 'design': f'{FAST}@cpu0', 'warmup_runs': 1}
    expect = ''
    if case == 'corrupt':
        # A one-variant zoo whose model file is garbage of the right size, sha256 matching.
        import hashlib
        import os
        import shutil
        root = tmp_path / 'zoo'
        with open(os.path.join(zoo.root, 'manifest.yaml'), encoding='utf-8') as f:
            manifest = yaml.safe_load(f)
        entry = manifest['tasks'][TASK]
        entry['variants'] = [v for v in entry['variants'] if v['name'] == FAST]
        manifest['tasks'] = {TASK: entry}
        for role, f in entry['variants'][0]['files'].items():
            dst = root / f['path']
            dst.parent.mkdir(parents=True, exist_ok=True)
            if role == 'model':
                junk = os.urandom(f['size'])
                dst.write_bytes(junk)
                f['sha256'] = hashlib.sha256(junk).hexdigest()
            else:
                shutil.copy(os.path.join(zoo.root, f['path']), dst)
        _write(root, 'manifest.yaml', manifest)
        params['model_dir'] = str(root)
        expect = 'cannot load'
    elif case == 'provider':
        db = _db(zoo)
        db_path = str(tmp_path / 'gpu.yaml')
        data = db.to_dict()
        data['processors'].append({'name': 'gpu0', 'provider': 'CUDAExecutionProvider',
                                   'device_id': 0})
        _write(tmp_path, 'gpu.yaml', data)
        params.update(profile_db=db_path, design=f'{FAST}@gpu0')
        expect = 'CUDAExecutionProvider'
    else:
        params['queue_size'] = 9  # out of its [1, 2] range
        expect = 'queue_size'
    proc = graph.start('task_node', name='ic', params=params)
    code = proc.popen.wait(120)
    text = proc.log_tail()
    assert code == 2 and expect in text and 'Traceback' not in text, text
    graph.procs.clear()

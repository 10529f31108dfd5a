"""Ctrl-C twice ends every node cleanly: exit code 0, no traceback, no native abort.

``ros2 launch`` forwards SIGINT to node processes that already got it from the terminal, so in
a launched graph every node sees Ctrl-C twice, the second one while it is cleaning up. Before
the fix a KeyboardInterrupt inside ``destroy_node`` or a worker join printed tracebacks and
task nodes aborted ("terminate called without an active exception", exit -6).
"""
from __future__ import annotations

import json
import signal
import subprocess
import time

import yaml
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import Graph, Probe
from std_msgs.msg import String

from carin_ros.core.synth import synthetic_db
from carin_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS
from carin_ros.zoo.manifest import Zoo

TASK = 'image_classification'
BAD_SIGNS = ('Traceback', 'KeyboardInterrupt', 'terminate called', 'never retrieved')


def _manager_files(tmp_path) -> tuple[str, str]:
    db_path, slo_path = str(tmp_path / 'profile.yaml'), str(tmp_path / 'slo.yaml')
    synthetic_db(seed=3, tasks=(TASK,), variants_per_task=4).save(db_path)
    with open(slo_path, 'w', encoding='utf-8') as f:
        yaml.safe_dump({'tasks': [TASK], 'slo': {TASK: {'latency_p90_ms': {'max': 500.0}}},
                        'objectives': {TASK: {'accuracy': {'direction': 'max'}}}}, f)
    return db_path, slo_path


def test_double_ctrl_c_ends_every_node_cleanly(ros_probe: Probe, graph: Graph,
                                                tmp_path) -> None:
    small = min(Zoo.load().variants(TASK), key=lambda v: v.size_bytes).name
    results = ros_probe.collect(String, '/ic/results', RELIABLE_QOS)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
    active = ros_probe.collect(String, '/carin/active_designs', LATCHED_QOS)
    db_path, slo_path = _manager_files(tmp_path)
    procs = {
        'camera_sim': graph.start('camera_sim', params={'rate_hz': 30.0},
                                  remap={'image': '/cam/image'}),
        'ic': graph.start('task_node', name='ic',
                          params={'task': TASK, 'design': f'{small}@cpu0',
                                  'health_period_s': 0.2},
                          remap={'image': '/cam/image', 'results': '/ic/results'}),
        'resource_monitor': graph.start('resource_monitor', params={'rate_hz': 10.0}),
        'carin_manager': graph.start('manager', name='carin_manager',
                                     params={'profile_db': db_path, 'slo_file': slo_path}),
    }
    ros_probe.wait_for(lambda: len(results) >= 5, 90, 'results of the image task')
    ros_probe.wait_for(lambda: any(s.name.startswith('carin_ros: device')
                                   for _, m in diags for s in m.status), 30, 'a device sample')
    ros_probe.wait_for(lambda: bool(active) and bool(json.loads(active[-1][1].data)['designs']),
                       60, 'the manager\'s active designs')

    # Second Ctrl-C at once (before clean-up starts), soon after (during it), and later.
    gaps = {'ic': 0.0, 'camera_sim': 0.02, 'resource_monitor': 0.1, 'carin_manager': 0.3}
    for name, gap in gaps.items():
        p = procs[name].popen
        p.send_signal(signal.SIGINT)
        time.sleep(gap)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    codes = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            codes[name] = 'hung'
    logs = graph.logs()
    assert all(code == 0 for code in codes.values()), f'exit codes {codes}\n{logs}'
    for sign in BAD_SIGNS:
        assert sign not in logs, f'{sign!r} in the node output\n{logs}'

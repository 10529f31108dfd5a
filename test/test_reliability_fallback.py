"""A design's session fails while serving: the task node reports it, the manager excludes the
processor for a back-off hold and switches to the design set's answer for that event, results
keep flowing, and the processor is tried again once the hold ends.

The fallback was kept warm on standby, so the switch needs no build. The fault is real: the
most accurate variant is an ONNX model whose ``Gather`` index comes from the input, so ONNX
Runtime fails on bright images ("indices element out of data bounds") and serves dark ones.
Nothing in the nodes is patched."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import numpy as np
import onnx
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from onnx import TensorProto, helper
from ros_harness import ROOT, Graph, Probe, task_status
from sensor_msgs.msg import Image
from std_msgs.msg import String

from carin_ros.core.profiles import Metrics, ProfileDB
from carin_ros.core.space import Design, Processor, Variant
from carin_ros.engine.decode import encode_image
from carin_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS
from carin_ros.zoo.manifest import Zoo

TASK = 'image_classification'
HEALTHY, FAULTY = 'efficientnet_lite0_int8', 'brightness_trap_fp32'
SIZE = 32


def brightness_trap(path: str) -> None:
    """A 10-class classifier of 1x3xSIZExSIZE inputs that fails on bright images: the index
    ``ceil(relu(mean(x) - 0.5) * 1000)`` is 0 for inputs whose mean is at most 0.5 (normalised
    pixels: grey 128 is 0.0) and out of the one-element table's bounds above that."""
    rng = np.random.default_rng(0)
    init = [helper.make_tensor('half', TensorProto.FLOAT, [], [0.5]),
            helper.make_tensor('scale', TensorProto.FLOAT, [], [1000.0]),
            helper.make_tensor('table', TensorProto.FLOAT, [1], [0.0]),
            helper.make_tensor('w', TensorProto.FLOAT, [3, 10],
                               rng.normal(size=30).astype(np.float32).tolist())]
    nodes = [
        helper.make_node('ReduceMean', ['input'], ['m'], keepdims=0),
        helper.make_node('Sub', ['m', 'half'], ['d']),
        helper.make_node('Relu', ['d'], ['r']),
        helper.make_node('Mul', ['r', 'scale'], ['s']),
        helper.make_node('Ceil', ['s'], ['c']),
        helper.make_node('Cast', ['c'], ['idx'], to=TensorProto.INT64),
        helper.make_node('Gather', ['table', 'idx'], ['g'], axis=0),
        helper.make_node('ReduceMean', ['input'], ['f'], axes=[2, 3], keepdims=0),
        helper.make_node('MatMul', ['f', 'w'], ['z']),
        helper.make_node('Add', ['z', 'g'], ['logits']),
    ]
    graph = helper.make_graph(
        nodes, 'brightness_trap',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info('logits', TensorProto.FLOAT, [1, 10])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _zoo_with_trap(zoo: Zoo, root: str) -> None:
    """A model folder holding the real HEALTHY variant and the FAULTY one, same zoo version."""
    with open(os.path.join(zoo.root, 'manifest.yaml'), encoding='utf-8') as f:
        manifest = yaml.safe_load(f)
    entry = manifest['tasks'][TASK]
    entry['variants'] = [v for v in entry['variants'] if v['name'] == HEALTHY]
    for f in entry['variants'][0]['files'].values():
        os.makedirs(os.path.join(root, os.path.dirname(f['path'])), exist_ok=True)
        shutil.copy(os.path.join(zoo.root, f['path']), os.path.join(root, f['path']))
    trap = os.path.join(root, TASK, f'{FAULTY}.onnx')
    brightness_trap(trap)
    with open(trap, 'rb') as f:
        blob = f.read()
    entry['variants'].append({
        'name': FAULTY, 'arch': 'brightness_trap', 'precision': 'fp32',
        'files': {'model': {'path': f'{TASK}/{FAULTY}.onnx', 'size': len(blob),
                            'sha256': hashlib.sha256(blob).hexdigest()}},
        'input': {'size': SIZE, 'resize': SIZE + 4, 'mean': [127.0] * 3, 'std': [128.0] * 3},
        'params': {'top_k': 3}})
    manifest['tasks'] = {TASK: entry}
    with open(os.path.join(root, 'manifest.yaml'), 'w', encoding='utf-8') as f:
        yaml.safe_dump(manifest, f)


def _db(zoo: Zoo) -> ProfileDB:
    """FAULTY is the most accurate and was profiled on cpu0 only; HEALTHY runs on both cores.
    RASS therefore serves FAULTY@cpu0 and answers 'cpu0 unavailable' with HEALTHY@cpu1."""
    procs = [Processor('cpu0', threads=1, cores=(0,)), Processor('cpu1', threads=1, cores=(1,))]
    trap = Variant(TASK, FAULTY, 'brightness_trap', 'fp32')
    db = ProfileDB('test device', procs, [zoo.variant(TASK, HEALTHY).core_variant(), trap],
                   n_cores=2, zoo_version=zoo.version)
    for name, proc, lat, acc in ((FAULTY, 'cpu0', 2.0, 0.90), (HEALTHY, 'cpu0', 8.0, 0.70),
                                 (HEALTHY, 'cpu1', 8.8, 0.70)):
        db.add(Design(TASK, name, proc), Metrics(acc, lat, 0.5, lat, lat * 1.1, lat * 1.2,
                                                 1e3 / lat, 40.0, 5.0))
    return db


def _image(value: int) -> Image:
    w, h, enc, big, step, data = encode_image(np.full((48, 64, 3), value, np.uint8))
    return Image(width=w, height=h, encoding=enc, is_bigendian=big, step=step, data=data)


def test_serving_failure_falls_back_and_retries_after_a_hold(ros_probe: Probe, graph: Graph,
                                                             tmp_path) -> None:
    zoo_dir = str(tmp_path / 'zoo')
    _zoo_with_trap(Zoo.load(), zoo_dir)
    zoo = Zoo.load(zoo_dir)
    db_path = str(tmp_path / 'profile.yaml')
    _db(zoo).save(db_path)
    slo_path = str(tmp_path / 'slo.yaml')
    with open(slo_path, 'w', encoding='utf-8') as f:
        yaml.safe_dump({'tasks': [TASK], 'objectives': {
            TASK: {'accuracy': {'direction': 'max', 'weight': 1.0}}}}, f)
    with open(f'{ROOT}/config/events.yaml', encoding='utf-8') as f:
        events = yaml.safe_load(f)
    # Other jobs on this shared machine must not raise overload events during the test.
    events['detection']['overload'] = {'enter_pct': 100.0, 'exit_pct': 99.0,
                                       'enter_hold_s': 3600.0, 'exit_hold_s': 1.0}
    events['detection']['failure'] = {'hold_s': 4.0, 'hold_max_s': 60.0}
    events_path = str(tmp_path / 'events.yaml')
    with open(events_path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(events, f)
    primary, fallback = f'{FAULTY}@cpu0', f'{HEALTHY}@cpu1'

    results = ros_probe.collect(String, f'/carin/{TASK}/results', RELIABLE_QOS)
    log = ros_probe.collect(String, '/carin/switch_log', RELIABLE_QOS)
    active = ros_probe.collect(String, '/carin/active_designs', LATCHED_QOS)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
    graph.start('resource_monitor', params={'rate_hz': 5.0})
    graph.start('task_node', name='ic', params={
        'task': TASK, 'design': fallback, 'model_dir': zoo_dir, 'profile_db': db_path,
        'warmup_runs': 1, 'health_period_s': 0.5, 'failures_before_report': 3},
        remap={'image': '/fb/image', 'results': f'/carin/{TASK}/results',
               'switch_events': f'/carin/{TASK}/switch_events'})
    graph.start('manager', name='carin_manager', params={
        'profile_db': db_path, 'slo_file': slo_path, 'events_file': events_path,
        'model_dir': zoo_dir, 'max_simultaneous': 1, 'task_nodes': [f'{TASK}=ic'],
        'status_period_s': 0.5})
    pub = ros_probe.node.create_publisher(Image, '/fb/image', RELIABLE_QOS)
    dark, bright = _image(100), _image(250)

    def feed(img: Image, until, seconds: float, what: str) -> None:
        """Publish ``img`` at 10 Hz until ``until()`` holds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pub.publish(img)
            ros_probe.spin_for(0.1)
            if until():
                return
        raise AssertionError(f'timed out after {seconds:g} s waiting for {what}\n'
                             f'{graph.logs()}')

    def served_by(design: str, since: float):
        return lambda: any(t >= since and json.loads(m.data)['design'] == design
                           for t, m in results)

    def failures() -> list[dict]:
        return [d for d in (json.loads(m.data) for _, m in log)
                if d.get('kind') == 'processor_failed']

    # 1. The manager deploys the most accurate design; dark images are served by it.
    ros_probe.wait_for(lambda: (json.loads(active[-1][1].data)['designs'] if active else {})
                       == {TASK: primary}, 120, 'the primary design as active')
    feed(dark, served_by(primary, 0.0), 120, f'results from {primary}')
    # The manager told the node which designs its design set may switch to: kept warm.
    feed(dark, lambda: fallback in task_status(diags, TASK).get('standby', '').split(','), 120,
         f'{fallback} kept warm on standby')

    # 2. Bright images make its session fail: reported, cpu0 excluded for hold_s, the design
    #    set's answer for 'cpu0 unavailable' serves them.
    t_fault = time.monotonic()
    feed(bright, served_by(fallback, t_fault), 120, f'results from {fallback} after the fault')
    first = failures()[0]
    assert first['design'] == primary and first['processor'] == 'cpu0', first
    assert first['cause'] == 'serving_failed' and first['hold_s'] == 4.0, first
    gap = min(t for t, m in results if t >= t_fault and
              json.loads(m.data)['design'] == fallback) - t_fault
    done = [d for d in (json.loads(m.data) for _, m in log)
            if d.get('kind') == 'switch_done' and d['design'] == fallback]
    assert done and done[0]['status'] == 'switched' and done[0]['build_ms'] == 0.0, done

    # 3. After the hold cpu0 is tried again; still failing, it is held twice as long.
    feed(bright, lambda: len(failures()) >= 2, 120, 'the retried processor failing again')
    second = failures()[1]
    assert second['design'] == primary and second['hold_s'] == 8.0, second
    t_second = time.monotonic()
    feed(bright, served_by(fallback, t_second), 120, f'{fallback} serving again')

    # 4. The fault goes away (dark images): once the hold ends the primary serves again.
    t_calm = time.monotonic()
    feed(dark, served_by(primary, t_calm), 120, f'{primary} back after the hold')
    assert len(failures()) == 2

    # Every input is accounted for: the failed ones were counted, none was lost.
    def balanced() -> bool:
        st = task_status(diags, TASK)
        drops = sum(int(v) for k, v in st.items() if k.startswith('dropped.'))
        return bool(st) and int(st['received']) == int(st['served']) + drops
    ros_probe.wait_for(balanced, 30, 'a balanced account of inputs')
    st = task_status(diags, TASK)
    assert int(st['dropped.failed']) >= 6, st  # at least three per report
    print(f'fallback: first result from {fallback} {gap:.2f} s after the first bright image; '
          f'{st["dropped.failed"]} inputs failed in two fault periods')

"""task_node in its own process: real pictures and sentences in, correct labels out, hot swap."""
from __future__ import annotations

import json

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import Graph, Probe, task_status
from sensor_msgs.msg import Image
from std_msgs.msg import String

from carin_ros.nodes.common import RELIABLE_QOS, SENSOR_QOS
from carin_ros.zoo.manifest import Zoo

# ImageNet classes a tabby cat picture may fairly get.
CAT_LABELS = {'tabby', 'tiger cat', 'Egyptian cat', 'Persian cat', 'Siamese cat', 'lynx'}


@pytest.fixture(scope='module')
def zoo() -> Zoo:
    return Zoo.load()


def _variants(zoo: Zoo, task: str) -> list[str]:
    """The task's variants, smallest first (fast to load on a small CI machine)."""
    return [v.name for v in sorted(zoo.variants(task), key=lambda v: v.size_bytes)]


def _results(box: list) -> list[dict]:
    return [json.loads(m.data) for _, m in box]


def test_image_task_labels_the_cat_and_hot_swaps(ros_probe: Probe, graph: Graph,
                                                 zoo: Zoo) -> None:
    task = 'image_classification'
    small, other = _variants(zoo, task)[:2]
    results = ros_probe.collect(String, '/ic/results', RELIABLE_QOS)
    frames = ros_probe.collect(Image, '/cam/image', SENSOR_QOS)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
    graph.start('camera_sim', params={'rate_hz': 10.0, 'images': ['chelsea']},
                remap={'image': '/cam/image'})
    graph.start('task_node', name='ic', params={'task': task, 'design': f'{small}@cpu1',
                                                'health_period_s': 0.5},
                remap={'image': '/cam/image', 'results': '/ic/results'})
    ros_probe.wait_for(lambda: len(results) >= 5, 90, 'five image results')
    first = _results(results)
    for r in first:
        assert r['schema'] == 'carin_ros/result/1' and r['task'] == task
        assert r['design'] == f'{small}@cpu1' and r['processor'] == 'cpu1'
        assert r['label'] in CAT_LABELS, f'the cat picture got {r["label"]!r}'
        assert r['latency_ms'] > 0 and r['top_k'][0][0] == r['label']
    # Results carry the stamps of frames the camera really published. (The probe may take a
    # 900 kB frame after the small result that answers it, and best-effort transport may lose
    # a frame on its way to the probe: wait until most results' frames have been seen.)
    def matched() -> float:
        seen = {(m.header.stamp.sec, m.header.stamp.nanosec) for _, m in frames}
        stamps = [(r['stamp']['sec'], r['stamp']['nanosec']) for r in _results(results)]
        return sum(st in seen for st in stamps) / len(stamps)
    ros_probe.wait_for(lambda: matched() >= 0.5, 20,
                       'the camera frames that the results answer')

    # Bad values for the design parameter are rejected with a reason.
    bad = ros_probe.set_parameters('ic', {'design': 'no_such_variant@cpu0'})
    assert not bad[0].successful and 'unknown variant' in bad[0].reason
    bad = ros_probe.set_parameters('ic', {'design': f'{small}@tpu7'})
    assert not bad[0].successful and 'unknown processor' in bad[0].reason
    bad = ros_probe.set_parameters('ic', {'design': 'no-at-sign'})
    assert not bad[0].successful and 'variant@processor' in bad[0].reason

    # Hot swap from another process: results keep flowing, then come from the new design.
    n = len(results)
    ok = ros_probe.set_parameters('ic', {'design': f'{other}@cpu0'})
    assert ok[0].successful, ok[0].reason
    ros_probe.wait_for(lambda: _results(results)[-1]['design'] == f'{other}@cpu0', 60,
                       'results of the new design')
    swapped = results[n:]
    gaps = [b[0] - a[0] for a, b in zip(swapped, swapped[1:], strict=False)]
    assert max(gaps, default=0.0) < 1.5, f'results stalled {max(gaps):.2f} s during the swap'
    assert _results(results)[-1]['label'] in CAT_LABELS

    # Malformed input: dropped, counted, and the node keeps serving.
    pub = ros_probe.node.create_publisher(Image, '/cam/image', SENSOR_QOS)
    broken = Image(width=640, height=480, encoding='rgb8', step=100, data=bytes(48000))
    ros_probe.wait_for(lambda: pub.get_subscription_count() >= 1, 30,
                       'the task node matched the test publisher')

    def bad_input_counted() -> bool:
        # Best effort and a newest-only queue: a camera frame may replace a broken one before
        # the worker takes it (counted as stale), so keep sending until one is counted.
        pub.publish(broken)
        return int(task_status(diags, task).get('dropped.bad_input', 0)) >= 1

    ros_probe.wait_for(bad_input_counted, 30, 'bad input counted')
    n = len(results)
    ros_probe.wait_for(lambda: len(results) >= n + 3, 30, 'results after bad input')
    status = task_status(diags, task)
    assert status['design'] == f'{other}@cpu0' and int(status['switches']) == 1
    assert float(status['latency_p90_ms']) > 0


def test_text_task_labels_commands(ros_probe: Probe, graph: Graph, zoo: Zoo) -> None:
    from carin_ros.zoo.data import load_intents
    task = 'text_classification'
    intents = load_intents()
    # Known inputs: one training sentence for each of a few intents.
    picked: dict[str, str] = {}
    for sentence, intent in intents.train:
        picked.setdefault(intent, sentence)
    cases = dict(list(picked.items())[:4])
    results = ros_probe.collect(String, '/tc/results', RELIABLE_QOS)
    graph.start('text_sim', params={'rate_hz': 8.0, 'sentences': list(cases.values())},
                remap={'text': '/cmd'})
    graph.start('task_node', name='tc', params={
        'task': task, 'design': f'{_variants(zoo, task)[0]}@cpu0', 'queue_size': 2},
        remap={'text': '/cmd', 'results': '/tc/results'})
    ros_probe.wait_for(lambda: len(results) >= 12, 90, 'twelve text results')
    got = {r['label'] for r in _results(results)}
    assert got == set(cases), f'expected intents {sorted(cases)}, got {sorted(got)}'
    assert all(r['stamp']['sec'] > 0 for r in _results(results))


def test_face_task_finds_the_astronaut(ros_probe: Probe, graph: Graph, zoo: Zoo) -> None:
    task = 'face_analysis'
    results = ros_probe.collect(String, '/fa/results', RELIABLE_QOS)
    graph.start('camera_sim', params={'rate_hz': 5.0, 'images': ['astronaut']},
                remap={'image': '/cam2/image'})
    graph.start('task_node', name='fa', params={
        'task': task, 'design': f'{_variants(zoo, task)[0]}@cpu0'},
        remap={'image': '/cam2/image', 'results': '/fa/results'})
    ros_probe.wait_for(lambda: len(results) >= 3, 90, 'three face results')
    for r in _results(results):
        assert r['task'] == task
        assert r['label'] == 'face' and r['details']['n_faces'] >= 1, r
        assert len(r['details']['faces'][0]['box']) == 4

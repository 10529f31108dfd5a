"""camera_sim, text_sim and resource_monitor in their own processes, observed over ROS."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import Graph, Probe
from sensor_msgs.msg import Image
from std_msgs.msg import String

from carin_ros.monitor import hog
from carin_ros.nodes.camera_sim import load_sample_image
from carin_ros.nodes.common import RELIABLE_QOS, SENSOR_QOS
from carin_ros.nodes.diagnostics import find_device_sample


def test_camera_sim_publishes_real_pictures_at_rate(ros_probe: Probe, graph: Graph) -> None:
    frames = ros_probe.collect(Image, '/cam/image', SENSOR_QOS)
    graph.start('camera_sim', params={'rate_hz': 20.0, 'images': ['chelsea', 'coffee']},
                remap={'image': '/cam/image'})
    ros_probe.wait_for(lambda: len(frames) >= 2, 30, 'first frames')
    start = len(frames)
    ros_probe.spin_for(2.0)
    got = len(frames) - start
    assert 20 <= got <= 50, f'{got} frames in 2 s at 20 Hz'
    msg = frames[-1][1]
    assert (msg.width, msg.height, msg.encoding, msg.step) == (640, 480, 'rgb8', 640 * 3)
    assert msg.header.frame_id == 'camera'
    pixels = {np.frombuffer(m.data, np.uint8).reshape(480, 640, 3).tobytes() for _, m in frames}
    assert pixels == {load_sample_image(n, 640, 480).tobytes() for n in ('chelsea', 'coffee')}
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    assert abs(stamps[-1] - time.time()) < 5


def test_text_sim_publishes_given_sentences(ros_probe: Probe, graph: Graph) -> None:
    texts = ros_probe.collect(String, '/text', RELIABLE_QOS)
    sentences = ['move forward two meters', 'what is the battery level']
    graph.start('text_sim', params={'rate_hz': 10.0, 'sentences': sentences})
    ros_probe.wait_for(lambda: len(texts) >= 4, 30, 'four sentences')
    assert {m.data for _, m in texts} == set(sentences)


def test_resource_monitor_reports_external_load(ros_probe: Probe, graph: Graph) -> None:
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
    graph.start('resource_monitor', params={'rate_hz': 4.0})
    ros_probe.wait_for(lambda: len(diags) >= 2, 30, 'device diagnostics')
    status = diags[-1][1].status[0]
    assert status.hardware_id == os.uname().nodename
    sample = find_device_sample(diags[-1][1])
    assert sample is not None and len(sample.cores) == os.cpu_count()
    values = {kv.key: kv.value for kv in status.values}
    if sample.gpus is None:
        assert values['gpu.count'] == 'absent'
    core = (os.cpu_count() or 1) - 1
    proc = hog.start_hog(core, seconds=20)
    try:
        def hogged() -> bool:
            s = find_device_sample(diags[-1][1])
            return s is not None and s.core(core).external_pct > 70
        ros_probe.wait_for(hogged, 15, f'external load on core {core}')
    finally:
        proc.kill()
        proc.wait()


def test_text_sim_defaults_to_the_zoo_data_set(ros_probe: Probe, graph: Graph) -> None:
    from carin_ros.nodes.text_sim import default_sentences_file, load_sentences
    known = set(load_sentences(default_sentences_file()))
    texts = ros_probe.collect(String, '/speech', RELIABLE_QOS)
    graph.start('text_sim', params={'rate_hz': 20.0, 'shuffle': True},
                remap={'text': '/speech'})
    ros_probe.wait_for(lambda: len(texts) >= 5, 30, 'data set sentences')
    got = {m.data for _, m in texts}
    assert got <= known and len(got) >= 4


@pytest.mark.parametrize('name, body, expected', [
    ('s.txt', '# comment\nstop now\n\ngo home\n', ['stop now', 'go home']),
    ('s.csv', 'text,label\nstop now,stop\ngo home,go_home\n', ['stop now', 'go home']),
    ('s.jsonl', '{"sentence": "stop now"}\n{"sentence": "go home"}\n', ['stop now', 'go home']),
    ('s.yaml', 'sentences: [stop now, go home]\n', ['stop now', 'go home']),
])
def test_load_sentences_formats(tmp_path, name: str, body: str, expected: list[str]) -> None:
    from carin_ros.nodes.text_sim import load_sentences
    path = tmp_path / name
    path.write_text(body, encoding='utf-8')
    assert load_sentences(str(path)) == expected


@pytest.mark.parametrize('name, body, fragment', [
    ('e.txt', '\n# only a comment\n', 'no sentences'),
    ('e.csv', 'label\nstop\n', 'none of the keys'),
    ('e.yaml', 'sentences: [ok, 3]\n', 'item 1'),
])
def test_load_sentences_errors_name_the_file(tmp_path, name: str, body: str,
                                             fragment: str) -> None:
    from carin_ros.nodes.text_sim import load_sentences
    path = tmp_path / name
    path.write_text(body, encoding='utf-8')
    with pytest.raises(ValueError, match=fragment) as info:
        load_sentences(str(path))
    assert str(path) in str(info.value)


def test_console_scripts_run_as_nodes(ros_probe: Probe, graph: Graph) -> None:
    """The entry points setup.py declares (what `ros2 run carin_ros <node>` starts)."""
    frames = ros_probe.collect(Image, '/script/image', SENSOR_QOS)
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
    graph.start('camera_sim', name='cam_script', params={'rate_hz': 5.0},
                remap={'image': '/script/image'}, executable='camera_sim')
    graph.start('resource_monitor', name='mon_script', executable='resource_monitor')
    ros_probe.wait_for(lambda: len(frames) >= 2 and len(diags) >= 2, 30,
                       'output of the console scripts')
    assert all(p.popen.args[0].endswith(('camera_sim', 'resource_monitor'))
               for p in graph.procs)

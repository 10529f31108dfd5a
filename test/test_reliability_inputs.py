"""Bad input through running task nodes: every bad message is dropped and counted, a rate-
limited warning names the reason, and results keep flowing for the good ones."""
from __future__ import annotations

import itertools
import json
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from ros_harness import Graph, Probe, task_status
from sensor_msgs.msg import Image
from std_msgs.msg import String

from carin_ros.engine.decode import encode_image
from carin_ros.nodes.common import RELIABLE_QOS

IMAGE, TEXT = 'image_classification', 'text_classification'


def _image(fields: tuple) -> Image:
    width, height, encoding, big, step, data = fields
    return Image(width=width, height=height, encoding=encoding, is_bigendian=big, step=step,
                 data=data)


def _bad_images() -> list[Image]:
    good = encode_image(np.zeros((8, 8, 3), np.uint8))
    return [
        _image((8, 8, 'yuv422', 0, 16, bytes(128))),            # unsupported encoding
        _image((8, 8, 'rgb8', 0, 24, bytes(100))),              # step*height != data size
        _image((0, 8, 'rgb8', 0, 0, b'')),                      # zero width
        _image((8, 0, 'rgb8', 0, 24, b'')),                     # zero height
        _image((7680, 4320, 'rgb8', 0, 7680 * 3, b'')),         # 8K: over the pixel limit
        _image((8, 8, 'mono16', 7, 16, bytes(128))),            # byte-order flag not 0/1
        _image((*good[:4], 23, good[5])),                        # step shorter than a row
    ]


def test_bad_messages_are_counted_and_serving_goes_on(ros_probe: Probe, graph: Graph) -> None:
    from carin_ros.zoo.manifest import Zoo
    zoo = Zoo.load()
    small = {t: min(zoo.variants(t), key=lambda v: v.size_bytes).name for t in (IMAGE, TEXT)}
    diags = ros_probe.collect(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
    results = {t: ros_probe.collect(String, f'/{t}/results', RELIABLE_QOS) for t in (IMAGE,
                                                                                     TEXT)}
    img = graph.start('task_node', name='ic', params={
        'task': IMAGE, 'design': f'{small[IMAGE]}@cpu0', 'health_period_s': 0.3,
        'warmup_runs': 1}, remap={'image': '/bad/image', 'results': f'/{IMAGE}/results'})
    txt = graph.start('task_node', name='tc', params={
        'task': TEXT, 'design': f'{small[TEXT]}@cpu1', 'health_period_s': 0.3,
        'queue_size': 2, 'warmup_runs': 1},
        remap={'text': '/bad/text', 'results': f'/{TEXT}/results'})
    # Reliable publishers with deep queues, so no message is lost before the node sees it.
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    deep = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    img_pub = ros_probe.node.create_publisher(Image, '/bad/image', deep)
    txt_pub = ros_probe.node.create_publisher(String, '/bad/text', deep)
    good_img = _image(encode_image(np.full((64, 64, 3), 128, np.uint8)))
    ros_probe.wait_for(lambda: task_status(diags, IMAGE) and task_status(diags, TEXT), 120,
                       'both task nodes up')
    ros_probe.wait_for(lambda: img_pub.get_subscription_count() and
                       txt_pub.get_subscription_count(), 30, 'subscriptions matched')

    bad_images = _bad_images()
    bad_texts = ['', '   \n\t', 'x' * (1 << 20), '\u3000']  # empty, blank, 1 MB, wide blank
    images = [*bad_images, good_img] * 3
    texts = [*[String(data=t) for t in bad_texts],
             String(data='turn left at the next corner')] * 3
    n_img, n_txt = 3 * len(bad_images), 3 * len(bad_texts)
    sent = {IMAGE: 0, TEXT: 0}

    def n_received(task: str) -> int:
        return int(task_status(diags, task).get('received', 0))

    def send(task: str, pub, msg) -> None:
        """Publish ``msg`` and wait until the node has received it, one message at a time
        (the node keeps only the newest input, and a busy shared machine can delay a node's
        executor past the image topic's best-effort history). A message the transport lost
        before the node saw it is sent again: such losses are outside the node's accounting
        (docs/reliability.md)."""
        for _ in range(3):
            pub.publish(msg)
            sent[task] += 1
            end = time.monotonic() + 5.0
            while time.monotonic() < end and n_received(task) < sent[task]:
                ros_probe.spin_for(0.05)
            if n_received(task) >= sent[task]:
                return
            sent[task] = n_received(task)  # lost in transport: send it again
        raise AssertionError(f'{task}: three sends of one message never reached the node\n'
                             f'{graph.logs()}')

    for img_msg, txt_msg in itertools.zip_longest(images, texts):
        if img_msg is not None:
            send(IMAGE, img_pub, img_msg)
        if txt_msg is not None:
            send(TEXT, txt_pub, txt_msg)

    def counted(task: str, n: int) -> bool:
        st = task_status(diags, task)
        return int(st.get('dropped.bad_input', 0)) + int(st.get('dropped.stale', 0)) >= n and \
            int(st.get('received', 0)) >= n + 3
    ros_probe.wait_for(lambda: counted(IMAGE, n_img) and counted(TEXT, n_txt), 60,
                       f'every bad message counted ({n_img} images, {n_txt} texts; sent '
                       f'{sent})')
    # Results for the good inputs came through, after the bad ones.
    ros_probe.wait_for(lambda: len(results[IMAGE]) >= 1 and len(results[TEXT]) >= 1, 60,
                       'results for good inputs')
    for task, n_bad in ((IMAGE, n_img), (TEXT, n_txt)):
        st = task_status(diags, task)
        received, served = int(st['received']), int(st['served'])
        drops = sum(int(v) for k, v in st.items() if k.startswith('dropped.'))
        # A resent message whose first copy came late adds one; none may go missing.
        assert received >= n_bad + 3, st
        assert received == served + drops, f'{task}: an input is unaccounted for: {st}'
        # One message at a time: none was replaced by a newer one, every bad one is counted.
        assert int(st['dropped.bad_input']) >= n_bad and int(st['dropped.failed']) == 0, st
    # The nodes are still serving new input.
    before = len(results[IMAGE])
    img_pub.publish(good_img)
    ros_probe.wait_for(lambda: len(results[IMAGE]) > before, 60, 'a result after it all')
    assert json.loads(results[IMAGE][-1][1].data)['design'] == f'{small[IMAGE]}@cpu0'
    # Warnings are rate limited: far fewer lines than bad messages, each with a reason.
    log = open(img.log_path, encoding='utf-8').read()
    lines = [ln for ln in log.splitlines() if 'dropped bad input' in ln]
    assert 1 <= len(lines) < n_img, lines
    text_log = open(txt.log_path, encoding='utf-8').read()
    assert 'dropped bad input' in text_log

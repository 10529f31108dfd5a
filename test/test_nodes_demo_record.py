"""The demo's recorder: reaction time, returns and result gaps from a scripted timeline."""
from __future__ import annotations

import json

import pytest

from carin_ros.demo.record import Recorder

TASK = 'image_classification'


def _result(design: str, stamp: float) -> str:
    return json.dumps({'stamp': {'sec': int(stamp), 'nanosec': int((stamp % 1) * 1e9)},
                       'design': design, 'processor': design.partition('@')[2],
                       'label': 'tabby', 'latency_ms': 8.0})


def test_reaction_return_and_gaps() -> None:
    rec = Recorder((TASK,))
    t = 1000.0
    # 10 Hz on cpu0 until 1002.0, hog at 1001.0, a 0.3 s gap at the switch, cpu1 until the hog
    # ends at 1003.0, back on cpu0 from 1003.5.
    times = [t + i / 10 for i in range(20)] + [t + 2.3 + i / 10 for i in range(7)] + \
        [t + 3.5 + i / 10 for i in range(5)]
    for x in times:
        design = 'v@cpu1' if t + 2.3 <= x < t + 3.0 else 'v@cpu0'
        rec.on_result(TASK, _result(design, x - 0.02), now=x)
    rec.on_switch(json.dumps({'stamp': t + 1.8, 'kind': 'switch_requested', 'task': TASK,
                              'design': 'v@cpu1'}))
    rec.on_switch(json.dumps({'stamp': t + 3.2, 'kind': 'switch_requested', 'task': TASK,
                              'design': 'v@cpu0'}))
    for stamp, design, build in ((t + 1.85, 'v@cpu1', 0.0), (t + 3.4, 'v@cpu0', 120.0)):
        rec.on_switch(json.dumps({'stamp': stamp, 'kind': 'switch_done', 'task': TASK,
                                  'design': design, 'status': 'switched', 'build_ms': build}))
    rec.on_switch(json.dumps({'stamp': t + 3.6, 'kind': 'switch_done', 'task': TASK,
                              'design': 'v@cpu9', 'status': 'failed', 'build_ms': 5.0}))
    rec.hog_start, rec.hog_end, rec.hog_task = t + 1.0, t + 3.0, TASK
    rec.hog_core, rec.hog_processor = 0, 'cpu0'
    rec.on_result(TASK, 'not json', now=t + 9)
    s = rec.summary()
    assert rec.dropped == 1
    assert s.switches == 2
    assert s.decision_s == pytest.approx(0.8)
    assert s.reaction_s == pytest.approx(1.3)
    assert s.returned_s == pytest.approx(0.5)
    (task,) = s.tasks
    assert task.designs == ('v@cpu0', 'v@cpu1', 'v@cpu0')
    assert task.results == len(times)
    assert task.max_gap_s == pytest.approx(0.6)   # 1002.9 -> 1003.5
    # Steady state: over 2 s from a design change (1002.3, 1003.5) and outside the hog
    # (1001.0 to 1003.0, plus 2 s): only the 10 Hz results up to 1000.3 count.
    assert task.max_gap_steady_s == pytest.approx(0.1)
    assert task.switch_build_ms == (0.0, 120.0)   # the failed switch is not a switch
    assert task.end_to_end_p50_ms == pytest.approx(20.0)
    assert task.p50_latency_ms == pytest.approx(8.0)
    assert any('hog on core 0' in line for line in s.lines())


def test_no_move_means_no_return() -> None:
    rec = Recorder((TASK,))
    for i in range(5):
        rec.on_result(TASK, _result('v@cpu', 10.0 + i), now=10.0 + i)
    rec.hog_start, rec.hog_end, rec.hog_task, rec.hog_processor = 11.0, 12.0, TASK, 'cpu'
    s = rec.summary()
    assert s.reaction_s is None and s.returned_s is None and s.decision_s is None
    assert s.tasks[0].max_gap_around_switch_s is None

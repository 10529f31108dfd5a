"""Window metrics of scenario runs: SLO checks per window, gaps, reactions, summaries."""
from __future__ import annotations

import math

import pytest

from carin_ros.core.slo import SloSpec
from carin_ros.evaluation.windows import (
    ResultRecord,
    SwitchRecord,
    latency_bound,
    max_switch_gap,
    reactions,
    summarise_run,
    windows,
)

SPEC = SloSpec.from_dict({'tasks': ['img'], 'slo': {'img': {'latency_p90_ms': {'max': 30.0},
                                                            'throughput_fps': {'min': 5.0}}},
                          'objectives': {'img': {'accuracy': {}}}})
TIGHT = SPEC.with_param('slo.img.latency_p90_ms.max', 15.0)
ACC = {'a@cpu0': 0.8, 'b@cpu1': 0.6}


def _results() -> list[ResultRecord]:
    out = []
    for k in range(10):           # 0-1 s: 10 results at 20 ms on a
        out.append(ResultRecord(k * 0.1, 'img', 'a@cpu0', 20.0))
    for k in range(10):           # 1-2 s: 10 results at 50 ms on a (misses 30 ms)
        out.append(ResultRecord(1.0 + k * 0.1, 'img', 'a@cpu0', 50.0))
    # 2-3 s: nothing (a gap); 3-4 s: 8 results at 10 ms on b
    out += [ResultRecord(3.0 + k * 0.125, 'img', 'b@cpu1', 10.0) for k in range(8)]
    out.append(ResultRecord(4.5, 'img', 'b@cpu1', 10.0))  # 4-5 s: one result: 1 fps < 5
    return out


def test_windows_check_each_slo() -> None:
    ws = windows(_results(), lambda t: SPEC if t < 3.0 else TIGHT,
                 lambda t: 'p1' if t < 2 else 'p2', ACC, 5.0, 1.0)
    assert [w.met for w in ws] == [True, False, False, True, False]
    assert [w.results for w in ws] == [10, 10, 0, 8, 1]
    assert ws[0].latency_p90_ms == pytest.approx(20.0) and ws[0].throughput_fps == 10.0
    assert math.isnan(ws[2].latency_p90_ms) and ws[2].design == ''
    assert ws[3].latency_bound_ms == 15.0 and ws[3].design == 'b@cpu1'
    assert ws[0].accuracy == 0.8 and ws[3].accuracy == 0.6
    assert [w.phase for w in ws] == ['p1', 'p1', 'p2', 'p2', 'p2']
    with pytest.raises(ValueError):
        windows([], lambda t: SPEC, lambda t: 'p', ACC, 5.0, 0.0)


def test_latency_bound_tightest() -> None:
    assert latency_bound(SPEC, 'img')[1] == 30.0
    assert latency_bound(TIGHT, 'img')[1] == 15.0


def test_gap_reaction_and_summary() -> None:
    rs = _results()
    # The design changes at 3.0 s; the longest gap within 2 s of it is 1.9 -> 3.0.
    assert max_switch_gap(rs) == pytest.approx(1.1)
    assert max_switch_gap([r for r in rs if r.design == 'a@cpu0']) is None
    sw = [SwitchRecord(2.4, 'img', 'b@cpu1'), SwitchRecord(4.2, 'img', 'a@cpu0')]
    assert reactions(sw, [('hog', 2.0), ('quiet', 4.0)], [4.0, 4.1]) == (
        ('hog', pytest.approx(0.4)), ('quiet', None))
    ws = windows(rs, lambda t: SPEC, lambda t: 'p1' if t < 2 else 'p2', ACC, 5.0, 1.0)
    m = summarise_run(ws, sw, rs, [('p1', 0.0), ('p2', 2.0)], 5.0, [0.1, 0.2])
    assert m.met_share == pytest.approx(2 / 5)
    assert dict(m.met_share_by_phase) == {'p1': 0.5, 'p2': pytest.approx(1 / 3)}
    assert m.switches == 2 and m.reactions_s[1] == ('p2', pytest.approx(0.4))
    assert m.accuracy == pytest.approx((0.8 + 0.8 + 0.6 + 0.6) / 4)

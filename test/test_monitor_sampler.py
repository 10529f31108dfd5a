"""DeviceSampler on the real machine: own vs external load, absent sensors, key round trip."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from carin_ros.monitor import (
    ABSENT,
    ROLE_ENV,
    CoreLoad,
    DeviceSample,
    DeviceSampler,
    DiagnosticsFormatError,
    GpuLoad,
    process_role,
    sample_from_pairs,
    sample_to_pairs,
)

BUSY = 'import os, sys, time\nos.sched_setaffinity(0, {int(sys.argv[1])})\n' \
       'end = time.time() + float(sys.argv[2])\nwhile time.time() < end: pass\n'


def _busy(core: int, seconds: float, role: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != ROLE_ENV}
    if role:
        env[ROLE_ENV] = role
    return subprocess.Popen([sys.executable, '-c', BUSY, str(core), str(seconds)], env=env)


def test_sample_shape_and_absent_sensors() -> None:
    sampler = DeviceSampler()
    time.sleep(0.2)
    s = sampler.sample()
    assert len(s.cores) == os.cpu_count()
    assert 0.15 < s.window_s < 2.0
    for c in s.cores:
        assert 0.0 <= c.total_pct <= 100.0
        assert c.own_pct is not None and 0.0 <= c.own_pct <= 100.0
    assert 0 < s.memory_available_mb <= s.memory_total_mb
    # This machine has no sensors and no NVIDIA driver: reported absent, never zero.
    import psutil
    if not psutil.sensors_temperatures():
        assert s.temperature_c is None
    if psutil.sensors_battery() is None:
        assert s.battery_pct is None and s.battery_plugged is None
    if sampler.gpu_absent_reason is not None:
        assert s.gpus is None


def test_marked_process_counts_as_own_and_unmarked_as_external() -> None:
    core = os.cpu_count() - 1
    own = _busy(core, 1.6, role='test_busy')
    try:
        deadline = time.time() + 5
        while process_role(own.pid) != 'test_busy' and time.time() < deadline:
            time.sleep(0.02)
        sampler = DeviceSampler()
        assert own.pid in sampler.own_pids()
        time.sleep(0.2)
        sampler.sample()
        time.sleep(0.8)
        s = sampler.sample().core(core)
        assert s.total_pct > 60
        assert s.own_pct is not None and s.own_pct > 60
        assert s.external_pct < 40
    finally:
        own.kill()
        own.wait()
    ext = _busy(core, 1.6, role=None)
    try:
        sampler = DeviceSampler()
        time.sleep(0.3)
        sampler.sample()
        time.sleep(0.8)
        s = sampler.sample().core(core)
        assert ext.pid not in sampler.own_pids()
        assert s.external_pct > 60
    finally:
        ext.kill()
        ext.wait()


def test_explicit_own_pids() -> None:
    sampler = DeviceSampler(own_pids=lambda: [os.getpid()], detect_roles=False)
    assert sampler.own_pids() == {os.getpid()}


def _sample(**kw) -> DeviceSample:
    base = dict(stamp=1700000000.25, hostname='h', window_s=0.5,
                cores=(CoreLoad(0, 80.0, 10.0), CoreLoad(1, 5.0, None)),
                memory_total_mb=1000.0, memory_available_mb=250.0)
    base.update(kw)
    return DeviceSample(**base)


@pytest.mark.parametrize('sample', [
    _sample(),
    _sample(temperature_c=71.5, battery_pct=33.0, battery_plugged=False),
    _sample(gpus=()),
    _sample(gpus=(GpuLoad(0, 'Jetson', 42.0, 100.0, 4000.0, None),)),
])
def test_pairs_round_trip(sample: DeviceSample) -> None:
    pairs = sample_to_pairs(sample)
    assert len({k for k, _ in pairs}) == len(pairs)
    back = sample_from_pairs(pairs, hostname='h')
    assert back == sample
    if sample.gpus is None:
        assert ('gpu.count', ABSENT) in pairs
    if sample.temperature_c is None:
        assert ('temperature_c', ABSENT) in pairs


def test_external_is_total_minus_own() -> None:
    assert CoreLoad(0, 80.0, 10.0).external_pct == 70.0
    assert CoreLoad(0, 5.0, 9.0).external_pct == 0.0
    assert CoreLoad(0, 50.0, None).external_pct == 50.0


@pytest.mark.parametrize('edit, fragment', [
    (lambda d: d.pop('cpu.count'), "'cpu.count'"),
    (lambda d: d.update({'cpu.1.total_pct': 'lots'}), "'cpu.1.total_pct'"),
    (lambda d: d.update({'memory.total_mb': ABSENT}), "'memory.total_mb'"),
    (lambda d: d.update({'cpu.count': '-1'}), "'cpu.count'"),
    (lambda d: d.update({'battery.plugged': 'maybe'}), "'battery.plugged'"),
    (lambda d: d.update({'stamp': 'nan'}), "'stamp'"),
])
def test_bad_pairs_name_the_key(edit, fragment: str) -> None:
    d = dict(sample_to_pairs(_sample()))
    edit(d)
    with pytest.raises(DiagnosticsFormatError, match=fragment):
        sample_from_pairs(d.items())

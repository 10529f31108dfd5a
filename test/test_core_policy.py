"""Runtime policy: hysteresis, event mapping, latency closed loop, lookup decisions."""
import numpy as np
import pytest

from carin_ros.core.events import (
    EventError,
    EventModel,
    LowBattery,
    MemoryPressure,
    ProcessorOverloaded,
    ProcessorUnavailable,
    Thermal,
)
from carin_ros.core.policy import (
    DetectorConfig,
    DeviceState,
    EventDetector,
    Hysteresis,
    LatencyWatch,
    RuntimePolicy,
    Threshold,
)
from carin_ros.core.rass import solve
from carin_ros.core.slo import SloSpec
from carin_ros.core.space import Processor
from carin_ros.core.synth import cpu_processors, synthetic_db

PROCS = cpu_processors(2)
TASKS = ['image_classification', 'text_classification']


def state(t, ext=(0.0, 0.0), avail=8000.0, temp=None, battery=None, plugged=None,
          providers=None):
    return DeviceState(stamp=t, core_load_pct=tuple(ext), core_external_pct=tuple(ext),
                       memory_available_mb=avail, memory_total_mb=16000.0, temperature_c=temp,
                       battery_pct=battery, battery_plugged=plugged, providers=providers)


def test_hysteresis_does_not_flap_on_a_noisy_signal():
    rng = np.random.default_rng(0)
    h = Hysteresis(Threshold(60.0, 40.0, enter_hold_s=0.5, exit_hold_s=1.0))
    # noise around 55% crossing the enter threshold briefly, never for 0.5 s
    times = np.arange(0, 20, 0.05)
    flips = 0
    prev = False
    for t in times:
        v = 55 + rng.normal(0, 6)
        if h.update(t, v) != prev:
            flips += 1
            prev = h.active
    assert flips == 0
    # a sustained overload enters once, noise in the band never exits
    for t in np.arange(20, 21, 0.05):
        h.update(t, 80.0)
    assert h.active
    for t in np.arange(21, 40, 0.05):
        v = 50 + rng.normal(0, 4)   # between exit 40 and enter 60 mostly
        assert h.update(t, max(v, 41.0))
    # sustained calm exits only after the hold time
    assert h.update(40.0, 10.0)
    assert h.update(40.9, 10.0)
    assert not h.update(41.0, 10.0)


def test_overloaded_core_maps_to_narrowest_processor():
    det = EventDetector(PROCS, 2)
    assert det.update(state(0.0, (90.0, 0.0))) == frozenset()
    assert det.update(state(0.6, (90.0, 0.0))) == {ProcessorOverloaded('cpu0')}
    assert det.update(state(1.0, (90.0, 95.0))) == {ProcessorOverloaded('cpu0')}
    assert det.update(state(1.6, (90.0, 95.0))) == {ProcessorOverloaded('cpu0'),
                                                     ProcessorOverloaded('cpu1')}
    det.update(state(2.0, (10.0, 95.0)))
    assert det.update(state(4.1, (10.0, 95.0))) == {ProcessorOverloaded('cpu1')}


def test_memory_thermal_battery_and_providers():
    det = EventDetector(PROCS, 2)
    assert det.update(state(0.0, avail=2500.0)) == {MemoryPressure('high')}
    assert det.update(state(0.1, avail=1000.0)) == {MemoryPressure('critical')}
    # absent sensors never raise events
    assert Thermal() not in det.update(state(0.2, avail=1000.0, temp=None))
    det.update(state(1.0, avail=1000.0, temp=90.0))
    assert Thermal() in det.update(state(2.0, avail=1000.0, temp=90.0))
    assert LowBattery() not in det.update(state(2.1, battery=10.0, plugged=True))
    assert LowBattery() in det.update(state(2.2, battery=10.0, plugged=False))
    gpu = cpu_processors(2) + (Processor('cuda', provider='CUDAExecutionProvider',
                                         device_id=0),)
    det = EventDetector(gpu, 2)
    assert det.update(state(0.0, providers=('CPUExecutionProvider',))) == {
        ProcessorUnavailable('cuda')}


def test_latency_watch_raises_after_n_bad_windows_and_clears_after_hold():
    spec = SloSpec.from_dict({'tasks': TASKS,
                              'slo': {TASKS[0]: {'latency_p90_ms': {'max': 20.0}}},
                              'objectives': {'app': {'accuracy': {}}}})
    cfg = DetectorConfig(latency_window=10, latency_violations=3, latency_hold_s=5.0)
    watch = LatencyWatch(spec, cfg)
    t = 0.0
    raised = []
    for _ in range(2 * 10):
        t += 0.01
        raised.append(watch.observe(TASKS[0], 30.0, 'cpu0', t))
    # one good window resets the count
    for _ in range(10):
        t += 0.01
        watch.observe(TASKS[0], 5.0, 'cpu0', t)
    assert not any(raised) and watch.events(t) == frozenset()
    for _ in range(3 * 10):
        t += 0.01
        raised.append(watch.observe(TASKS[0], 30.0, 'cpu0', t))
    assert sum(raised) == 1
    assert watch.events(t) == {ProcessorOverloaded('cpu0')}
    assert watch.events(t + 4.9) == {ProcessorOverloaded('cpu0')}
    assert watch.events(t + 5.0) == frozenset()
    # task without a latency bound never raises
    assert not any(watch.observe(TASKS[1], 1e6, 'cpu1', t) for _ in range(100))


def test_latency_watch_backs_off_when_the_returned_design_misses_again():
    spec = SloSpec.from_dict({'tasks': TASKS,
                              'slo': {TASKS[0]: {'latency_p90_ms': {'max': 20.0}}},
                              'objectives': {'app': {'accuracy': {}}}})
    cfg = DetectorConfig(latency_window=5, latency_violations=1, latency_hold_s=5.0,
                         latency_hold_max_s=12.0)
    watch = LatencyWatch(spec, cfg)

    def violate(t: float) -> None:
        assert [watch.observe(TASKS[0], 30.0, 'cpu0', t) for _ in range(5)][-1]

    holds = []
    t = 0.0
    for _ in range(4):
        violate(t)
        start = t
        while watch.events(t):
            t += 0.5
        holds.append(t - start)
        t += 1.0  # back on the primary, it misses again at once
    assert holds == [5.0, 10.0, 12.0, 12.0]
    # long after the last clearing the hold starts again from hold_s
    t += 100.0
    violate(t)
    assert watch.events(t + 4.9) and not watch.events(t + 5.0)
    with pytest.raises(EventError):
        DetectorConfig(latency_hold_s=5.0, latency_hold_max_s=1.0)


@pytest.fixture(scope='module')
def design_set():
    db = synthetic_db(seed=3, tasks=TASKS, variants_per_task=3)
    spec = SloSpec.from_dict({'tasks': TASKS, 'rates': {TASKS[0]: 30.0},
                              'objectives': {'app': {'accuracy': {}, 'throughput_fps': {}}}})
    return solve(db, spec, EventModel())


def test_policy_switches_by_lookup_as_events_start_and_end(design_set):
    policy = RuntimePolicy(design_set)
    d = policy.update(state(0.0))
    assert d.design == design_set.primary.design and not d.changed and d.precomputed
    d = policy.update(state(0.1, (95.0, 0.0)))
    assert d.events == frozenset()          # hold time not reached yet
    d = policy.update(state(0.7, (95.0, 0.0)))
    expected = design_set.answers[frozenset({ProcessorOverloaded('cpu0')})]
    assert d.events == {ProcessorOverloaded('cpu0')} and d.design == expected.design
    assert d.changed == (expected.design != design_set.primary.design)
    assert d.decision_time_s < 0.01
    policy.set_event(Thermal(), True)
    d = policy.decide(0.8)
    assert d.design == design_set.answers[frozenset({ProcessorOverloaded('cpu0'),
                                                     Thermal()})].design
    policy.set_event(Thermal(), False)
    policy.update(state(1.0, (0.0, 0.0)))
    d = policy.update(state(3.1, (0.0, 0.0)))
    assert d.events == frozenset() and d.design == design_set.primary.design
    with pytest.raises(EventError, match='unknown processor'):
        policy.set_event(ProcessorOverloaded('npu'), True)


def test_policy_closed_loop_moves_task_off_slow_processor(design_set):
    cfg = DetectorConfig(latency_window=5, latency_violations=2, latency_hold_s=3.0)
    spec = design_set.spec.with_param(f'slo.{TASKS[0]}.latency_p90_ms.max', 1000.0)
    policy = RuntimePolicy(design_set, latency_watch=LatencyWatch(spec, cfg))
    policy.decide(0.0)
    proc = policy.design.for_task(TASKS[0]).processor
    for k in range(10):
        policy.observe_latency(TASKS[0], 5000.0, now=0.01 * k)
    d = policy.decide(0.2)
    assert ProcessorOverloaded(proc) in d.events
    assert d.design == design_set.lookup(frozenset({ProcessorOverloaded(proc)})).design
    assert policy.decide(3.5).events == frozenset()


def test_policy_keeps_current_design_when_nothing_can_run(design_set):
    policy = RuntimePolicy(design_set)
    policy.decide(0.0)
    before = policy.design
    policy.set_event(ProcessorUnavailable('cpu0'), True)
    policy.set_event(ProcessorUnavailable('cpu1'), True)
    d = policy.decide(0.1)
    assert not d.feasible and d.design == before


def test_policy_failure_excludes_a_processor_for_a_back_off_hold(design_set):
    cfg = DetectorConfig(failure_hold_s=10.0, failure_hold_max_s=35.0)
    policy = RuntimePolicy(design_set, EventDetector(PROCS, 2, cfg))
    policy.decide(0.0)
    proc = design_set.primary.design.for_task(TASKS[0]).processor
    fallback = design_set.lookup(frozenset({ProcessorUnavailable(proc)})).design
    assert fallback != design_set.primary.design

    holds, t = [], 0.0
    for _ in range(4):
        holds.append(policy.report_failure(proc, t))
        d = policy.decide(t)
        assert ProcessorUnavailable(proc) in d.events and d.design == fallback
        start = t
        while ProcessorUnavailable(proc) in policy.decide(t).events:
            t += 0.5
        assert t - start == holds[-1]          # then the processor is tried again
        assert policy.decide(t).design == design_set.primary.design
        t += 2.0                                # ... and it fails again soon
    assert holds == [10.0, 20.0, 35.0, 35.0]
    # A processor quiet for longer than hold_max_s starts again from hold_s.
    t += 100.0
    assert policy.report_failure(proc, t) == 10.0
    with pytest.raises(EventError, match='unknown processor'):
        policy.report_failure('npu0', t)
    with pytest.raises(EventError, match='failure'):
        DetectorConfig(failure_hold_s=10.0, failure_hold_max_s=1.0)


def test_standby_designs_follow_the_design_set_and_empty_under_memory_pressure(design_set):
    from carin_ros.core.policy import standby_designs
    for task in TASKS:
        likely = design_set.likely_designs(task)
        assert standby_designs(design_set, task) == likely[:8]
        assert standby_designs(design_set, task, limit=1) == [
            design_set.primary.design.for_task(task)]
        assert standby_designs(design_set, task, {ProcessorOverloaded('cpu0')}) == likely[:8]
        assert standby_designs(design_set, task, {MemoryPressure('high')}) == []


def test_detector_config_from_yaml_and_errors(tmp_path):
    cfg = DetectorConfig.load('config/events.yaml')
    assert cfg == DetectorConfig()
    path = tmp_path / 'e.yaml'
    path.write_text('detection:\n  overload: {enter_pct: 30, exit_pct: 50}\n')
    with pytest.raises(EventError, match=r'detection.overload.*calm side'):
        DetectorConfig.load(path)
    path.write_text('detection:\n  thermal: {enter_c: hot}\n')
    with pytest.raises(EventError, match='detection.thermal.enter_c'):
        DetectorConfig.load(path)
    path.write_text('detection:\n  latency: {windows: 3}\n')
    with pytest.raises(EventError, match='unknown keys'):
        DetectorConfig.load(path)
    path.write_text('detection:\n  failure: {hold_s: 30}\n')
    assert DetectorConfig.load(path).failure_hold_s == 30.0
    assert DetectorConfig.load(path).failure_hold_max_s == 300.0
    path.write_text('detection:\n  failure: {hold: 3}\n')
    with pytest.raises(EventError, match='detection.failure: unknown keys'):
        DetectorConfig.load(path)


def test_device_state_from_monitor_sample():
    from carin_ros.monitor.sample import CoreLoad, DeviceSample
    sample = DeviceSample(stamp=5.0, hostname='h', window_s=0.5,
                          cores=(CoreLoad(1, 80.0, 10.0), CoreLoad(0, 50.0, None)),
                          memory_total_mb=1000.0, memory_available_mb=150.0)
    s = DeviceState.from_sample(sample, providers=['CPUExecutionProvider'])
    assert s.core_load_pct == (50.0, 80.0) and s.core_external_pct == (50.0, 70.0)
    assert s.memory_available_fraction == pytest.approx(0.15)
    assert s.gpu_util_pct is None and s.temperature_c is None
    assert EventDetector(PROCS, 2).update(s) == {MemoryPressure('high')}

"""Runtime policy: device state -> events (with hysteresis) -> design, by design-set lookup.

Mapping of observations to events (thresholds and hold times from the ``detection`` section of
config/events.yaml):

* a core whose *external* load (from processes other than carin's) stays at or above
  ``overload.enter_pct`` for ``enter_hold_s`` -> ``ProcessorOverloaded`` of the narrowest CPU
  processor that uses the core (``cpu0`` for core 0; the event model spreads the slowdown to
  processors sharing the core, so one event per core suffices); it ends once the load stays
  at or below ``exit_pct`` for ``exit_hold_s``;
* GPU utilisation at or above ``gpu_overload.enter_pct`` -> ``ProcessorOverloaded`` of every
  accelerator processor;
* a processor whose provider is missing from the available providers -> ``ProcessorUnavailable``;
* available memory fraction below a level's ``enter_available`` -> ``MemoryPressure(level)``
  (only the most severe active level is reported);
* temperature at or above ``thermal.enter_c`` -> ``Thermal``; battery at or below
  ``low_battery.enter_pct`` and not plugged -> ``LowBattery``. Absent sensors never raise
  an event.

Closed loop: :class:`LatencyWatch` turns a task's latency SLO violated in ``violations``
consecutive windows of ``window`` samples into ``ProcessorOverloaded`` of the processor the task
ran on, cleared after ``hold_s``.

Failures: :class:`FailureWatch` turns a processor reported failed (a session that would not
build, or a design that kept failing while serving) into ``ProcessorUnavailable`` for
``failure.hold_s``; the processor is then tried again, and one that fails again soon after gets
a hold twice as long, up to ``failure.hold_max_s``.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import yaml

from carin_ros.core.events import (
    Event,
    EventError,
    LowBattery,
    MemoryPressure,
    ProcessorOverloaded,
    ProcessorUnavailable,
    Thermal,
)
from carin_ros.core.profiles import Metric, latency_statistic
from carin_ros.core.rass import Answer, DesignSet
from carin_ros.core.slo import APP, Bound, SloSpec
from carin_ros.core.space import Design, JointDesign, Processor


@dataclass(frozen=True)
class DeviceState:
    """One observation of the device. Absent sensors are None.

    ``core_load_pct``/``core_external_pct``: per core, total load and the part from processes
    other than carin's (percent). ``providers``: ONNX Runtime providers available now (None:
    unknown, no unavailability is inferred).
    """

    stamp: float
    core_load_pct: tuple[float, ...]
    core_external_pct: tuple[float, ...]
    memory_available_mb: float
    memory_total_mb: float
    temperature_c: float | None = None
    battery_pct: float | None = None
    battery_plugged: bool | None = None
    providers: tuple[str, ...] | None = None
    gpu_util_pct: float | None = None
    gpu_memory_used_mb: float | None = None
    gpu_memory_total_mb: float | None = None

    @property
    def memory_available_fraction(self) -> float:
        return self.memory_available_mb / self.memory_total_mb if self.memory_total_mb > 0 \
            else 0.0

    @classmethod
    def from_sample(cls, sample: object, providers: Sequence[str] | None = None
                    ) -> DeviceState:
        """From a :class:`carin_ros.monitor.sample.DeviceSample` (read by attribute)."""
        cores = sorted(sample.cores, key=lambda c: c.core)  # type: ignore[attr-defined]
        gpus = getattr(sample, 'gpus', None) or ()
        return cls(stamp=float(sample.stamp),  # type: ignore[attr-defined]
                   core_load_pct=tuple(float(c.total_pct) for c in cores),
                   core_external_pct=tuple(float(c.external_pct) for c in cores),
                   memory_available_mb=float(sample.memory_available_mb),  # type: ignore
                   memory_total_mb=float(sample.memory_total_mb),  # type: ignore
                   temperature_c=getattr(sample, 'temperature_c', None),
                   battery_pct=getattr(sample, 'battery_pct', None),
                   battery_plugged=getattr(sample, 'battery_plugged', None),
                   providers=None if providers is None else tuple(providers),
                   gpu_util_pct=max((g.util_pct for g in gpus), default=None),
                   gpu_memory_used_mb=sum(g.memory_used_mb for g in gpus) if gpus else None,
                   gpu_memory_total_mb=sum(g.memory_total_mb for g in gpus) if gpus else None)


# -- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    """Enter at/above ``enter`` (below, when ``rising`` is False) held ``enter_hold_s``; exit
    at/below ``exit`` (above) held ``exit_hold_s``."""

    enter: float
    exit: float
    enter_hold_s: float = 0.0
    exit_hold_s: float = 0.0
    rising: bool = True

    def __post_init__(self) -> None:
        if self.enter_hold_s < 0 or self.exit_hold_s < 0:
            raise EventError('hold times must be >= 0')
        if (self.rising and self.exit > self.enter) or (not self.rising and
                                                        self.exit < self.enter):
            raise EventError(f'exit threshold {self.exit} must lie on the calm side of enter '
                             f'{self.enter}')

    def on(self, value: float) -> bool:
        return value >= self.enter if self.rising else value <= self.enter

    def off(self, value: float) -> bool:
        return value <= self.exit if self.rising else value >= self.exit


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds of :class:`EventDetector` (``detection`` in config/events.yaml)."""

    overload: Threshold = Threshold(40.0, 25.0, 0.5, 2.0)
    gpu_overload: Threshold = Threshold(85.0, 60.0, 0.5, 2.0)
    memory: tuple[tuple[str, Threshold], ...] = (
        ('high', Threshold(0.20, 0.25, 0.0, 2.0, rising=False)),
        ('critical', Threshold(0.10, 0.15, 0.0, 2.0, rising=False)))
    thermal: Threshold = Threshold(80.0, 72.0, 1.0, 5.0)
    low_battery: Threshold = Threshold(20.0, 25.0, 0.0, 5.0, rising=False)
    unavailable_exit_hold_s: float = 2.0
    latency_window: int = 20
    latency_violations: int = 3
    latency_hold_s: float = 5.0
    latency_hold_max_s: float = 60.0
    failure_hold_s: float = 10.0
    failure_hold_max_s: float = 300.0

    def __post_init__(self) -> None:
        if self.latency_window < 1 or self.latency_violations < 1 or self.latency_hold_s < 0:
            raise EventError('latency: window and violations must be >= 1, hold_s >= 0')
        if self.latency_hold_max_s < self.latency_hold_s:
            raise EventError('latency: hold_max_s must be >= hold_s')
        if self.failure_hold_s < 0 or self.failure_hold_max_s < self.failure_hold_s:
            raise EventError('failure: hold_s must be >= 0 and hold_max_s >= hold_s')

    @classmethod
    def load(cls, path: str | os.PathLike) -> DetectorConfig:
        """The ``detection`` section of an events file (config/events.yaml)."""
        path = os.fspath(path)
        try:
            with open(path, encoding='utf-8') as f:
                data = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise EventError(f'{path}: cannot read: {exc}') from exc
        if not isinstance(data, Mapping):
            raise EventError(f'{path}: top level must be a mapping')
        return cls.from_dict(data.get('detection'), source=path)

    @classmethod
    def from_dict(cls, data: Mapping | None, source: str = '<dict>') -> DetectorConfig:
        """From the ``detection`` mapping; missing sections keep their defaults."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise EventError(f'{source}: detection must be a mapping')
        known = {'overload', 'gpu_overload', 'memory', 'thermal', 'low_battery', 'unavailable',
                 'latency', 'failure'}
        unknown = set(data) - known
        if unknown:
            raise EventError(f'{source}: detection: unknown keys {sorted(unknown)} '
                             f'(expected {sorted(known)})')
        base = cls()
        kwargs: dict = {}
        try:
            for name, keys in (('overload', ('enter_pct', 'exit_pct')),
                               ('gpu_overload', ('enter_pct', 'exit_pct')),
                               ('thermal', ('enter_c', 'exit_c')),
                               ('low_battery', ('enter_pct', 'exit_pct'))):
                if name in data:
                    kwargs[name] = _threshold(data[name], keys, getattr(base, name),
                                              f'{source}: detection.{name}')
            if 'memory' in data:
                body = data['memory']
                if not isinstance(body, Mapping) or not isinstance(body.get('levels'), Mapping):
                    raise EventError(f'{source}: detection.memory.levels must map level names '
                                     f'to enter_available/exit_available')
                hold = {k: body[k] for k in ('enter_hold_s', 'exit_hold_s') if k in body}
                kwargs['memory'] = tuple(
                    (str(level), _threshold({**hold, **_mapping(
                        t, f'{source}: detection.memory.levels.{level}')},
                                            ('enter_available', 'exit_available'),
                                            Threshold(0.0, 0.0, 0.0, 2.0, rising=False),
                                            f'{source}: detection.memory.levels.{level}'))
                    for level, t in body['levels'].items())
            if 'unavailable' in data:
                kwargs['unavailable_exit_hold_s'] = _num(
                    _mapping(data['unavailable'], f'{source}: detection.unavailable').get(
                        'exit_hold_s', base.unavailable_exit_hold_s),
                    f'{source}: detection.unavailable.exit_hold_s')
            for name, counts in (('latency', ('window', 'violations')), ('failure', ())):
                if name in data:
                    kwargs.update(_hold_section(data[name], name, counts, base,
                                                f'{source}: detection.{name}'))
            return cls(**kwargs)
        except EventError as exc:
            if str(exc).startswith(source):
                raise
            raise EventError(f'{source}: detection: {exc}') from exc


def _mapping(value: object, where: str) -> dict:
    if not isinstance(value, Mapping):
        raise EventError(f'{where} must be a mapping, got {value!r}')
    return dict(value)


def _num(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EventError(f'{where} must be a finite number, got {value!r}')
    return float(value)


def _hold_section(data: object, name: str, counts: tuple[str, ...], base: object,
                  where: str) -> dict[str, float | int]:
    """A section with integer ``counts`` and ``hold_s``/``hold_max_s`` (latency, failure) ->
    DetectorConfig keyword arguments ``<name>_<key>``; ``hold_max_s`` defaults to at least
    ``hold_s``."""
    body = _mapping(data, where)
    extra = set(body) - {*counts, 'hold_s', 'hold_max_s'}
    if extra:
        raise EventError(f'{where}: unknown keys {sorted(extra)}')
    out: dict[str, float | int] = {
        f'{name}_{key}': int(_num(body.get(key, getattr(base, f'{name}_{key}')), f'{where}.{key}'))
        for key in counts}
    hold = _num(body.get('hold_s', getattr(base, f'{name}_hold_s')), f'{where}.hold_s')
    out[f'{name}_hold_s'] = hold
    out[f'{name}_hold_max_s'] = _num(
        body.get('hold_max_s', max(getattr(base, f'{name}_hold_max_s'), hold)),
        f'{where}.hold_max_s')
    return out


def _threshold(body: object, keys: tuple[str, str], default: Threshold, where: str
               ) -> Threshold:
    if not isinstance(body, Mapping):
        raise EventError(f'{where} must be a mapping')
    allowed = {*keys, 'enter_hold_s', 'exit_hold_s'}
    extra = set(body) - allowed
    if extra:
        raise EventError(f'{where}: unknown keys {sorted(extra)} (expected {sorted(allowed)})')
    vals = {k: _num(body[k], f'{where}.{k}') for k in allowed if k in body}
    try:
        return Threshold(vals.get(keys[0], default.enter), vals.get(keys[1], default.exit),
                         vals.get('enter_hold_s', default.enter_hold_s),
                         vals.get('exit_hold_s', default.exit_hold_s), default.rising)
    except EventError as exc:
        raise EventError(f'{where}: {exc}') from None


# -- hysteresis ------------------------------------------------------------------------------
class Hysteresis:
    """A two-threshold switch with minimum hold times on both edges."""

    def __init__(self, threshold: Threshold) -> None:
        self.threshold = threshold
        self.active = False
        self._since: float | None = None

    def update(self, now: float, value: float | None) -> bool:
        """Feed one observation (None: no reading, counts as calm); returns whether active."""
        t = self.threshold
        if not self.active:
            if value is not None and t.on(value):
                self._since = now if self._since is None else self._since
                if now - self._since >= t.enter_hold_s:
                    self.active, self._since = True, None
            else:
                self._since = None
        else:
            if value is None or t.off(value):
                self._since = now if self._since is None else self._since
                if now - self._since >= t.exit_hold_s:
                    self.active, self._since = False, None
            else:
                self._since = None
        return self.active


def narrowest_cpu_processor(core: int, processors: Sequence[Processor], n_cores: int
                            ) -> Processor | None:
    """The CPU processor using ``core`` with the fewest units (first on ties)."""
    unit = f'cpu:{core}'
    using = [p for p in processors if p.is_cpu and unit in p.resources(n_cores)]
    return min(using, key=lambda p: len(p.resources(n_cores)), default=None)


class EventDetector:
    """Turns :class:`DeviceState` observations into the set of active events."""

    def __init__(self, processors: Sequence[Processor], n_cores: int,
                 config: DetectorConfig | None = None) -> None:
        self.processors = tuple(processors)
        self.n_cores = n_cores
        self.config = config or DetectorConfig()
        c = self.config
        self._cores = [Hysteresis(c.overload) for _ in range(n_cores)]
        self._gpu = Hysteresis(c.gpu_overload)
        self._memory = [(level, Hysteresis(t)) for level, t in
                        sorted(c.memory, key=lambda lt: lt[1].enter)]  # most severe first
        self._thermal = Hysteresis(c.thermal)
        self._battery = Hysteresis(c.low_battery)
        self._missing = {p.name: Hysteresis(Threshold(1.0, 0.0, 0.0, c.unavailable_exit_hold_s))
                         for p in self.processors}
        self.events: frozenset[Event] = frozenset()

    def update(self, state: DeviceState) -> frozenset[Event]:
        now = state.stamp
        out: set[Event] = set()
        for core, h in enumerate(self._cores):
            value = state.core_external_pct[core] if core < len(state.core_external_pct) \
                else None
            if h.update(now, value):
                p = narrowest_cpu_processor(core, self.processors, self.n_cores)
                if p is not None:
                    out.add(ProcessorOverloaded(p.name))
        if self._gpu.update(now, state.gpu_util_pct):
            out.update(ProcessorOverloaded(p.name) for p in self.processors if not p.is_cpu)
        if state.providers is not None:
            for p in self.processors:
                if self._missing[p.name].update(now, float(p.provider not in state.providers)):
                    out.add(ProcessorUnavailable(p.name))
        fraction = state.memory_available_fraction if state.memory_total_mb > 0 else None
        active_levels = [level for level, h in self._memory if h.update(now, fraction)]
        if active_levels:
            out.add(MemoryPressure(active_levels[0]))
        if self._thermal.update(now, state.temperature_c):
            out.add(Thermal())
        battery = None if state.battery_pct is None or state.battery_plugged else \
            state.battery_pct
        if self._battery.update(now, battery):
            out.add(LowBattery())
        self.events = frozenset(out)
        return self.events


# -- timed events with back-off -------------------------------------------------------------
class Backoff:
    """Hold times that double for a key raised again soon after its last hold ended.

    The first hold of a key is ``hold_s``. When the key is raised again within ``hold_max_s``
    of the end of its previous hold, the new hold is twice the previous one, capped at
    ``hold_max_s``; a key quiet for longer starts again from ``hold_s``.
    """

    def __init__(self, hold_s: float, hold_max_s: float) -> None:
        self.hold_s, self.hold_max_s = hold_s, hold_max_s
        self._last: dict[object, tuple[float, float]] = {}  # key -> (hold, until)

    def next_hold(self, key: object, now: float) -> float:
        """The hold for ``key`` raised at ``now`` (recorded as its latest)."""
        hold = self.hold_s
        last = self._last.get(key)
        if last is not None and now - last[1] < self.hold_max_s:
            hold = min(2.0 * last[0], self.hold_max_s)
        self._last[key] = (hold, now + hold)
        return hold


class FailureWatch:
    """``ProcessorUnavailable`` for processors reported failed, each for a back-off hold.

    A failure (a switch whose session would not build, a design that kept failing while
    serving) excludes its processor for ``failure_hold_s``; then the processor is tried again.
    A processor that fails again within ``failure_hold_max_s`` of its last hold ending is held
    twice as long, up to that, so a persistent fault costs a few lost inputs per long hold
    rather than per short one, and a transient fault (a driver hiccup, a full GPU) heals.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        config = config or DetectorConfig()
        self._backoff = Backoff(config.failure_hold_s, config.failure_hold_max_s)
        self._until: dict[str, float] = {}

    def report(self, processor: str, now: float) -> float:
        """Mark ``processor`` failed at ``now``; returns the hold in seconds."""
        hold = self._backoff.next_hold(processor, now)
        self._until[processor] = max(self._until.get(processor, now), now + hold)
        return hold

    def events(self, now: float) -> frozenset[Event]:
        for p in [p for p, until in self._until.items() if now >= until]:
            del self._until[p]
        return frozenset(ProcessorUnavailable(p) for p in self._until)


# -- closed loop on observed latency -------------------------------------------------------
class LatencyWatch:
    """Raises ``ProcessorOverloaded`` when a task's observed latency violates its SLO.

    Latencies are grouped per task in windows of ``window`` samples; at the end of each window
    every latency bound of the task (task scope and app scope, ``max`` bounds) is checked
    against the window's statistic (mean, std, p50, p90, p99). ``violations`` consecutive bad
    windows raise the event on the processor of the last sample; it is cleared ``hold_s``
    after it was raised (the task has moved elsewhere by then, so its latency no longer tells).
    When the same task raises it again on the same processor within ``hold_max_s`` of the
    clearing (the design it returned to still misses its SLO), the hold doubles, up to that,
    so that the manager does not flap between a design that misses and its fallback.
    """

    def __init__(self, spec: SloSpec, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.spec = spec
        self._samples: dict[str, list[float]] = {}
        self._bad: dict[str, int] = {}
        self._raised: dict[str, tuple[str, float]] = {}  # task -> (processor, until)
        self._backoff = Backoff(self.config.latency_hold_s, self.config.latency_hold_max_s)

    def set_spec(self, spec: SloSpec) -> None:
        self.spec = spec

    def bounds(self, task: str) -> list[tuple[Metric, float]]:
        return [(c.metric, c.value) for c in self.spec.constraints
                if c.metric.is_latency and c.bound is Bound.MAX and c.scope in (task, APP)]

    def observe(self, task: str, latency_ms: float, processor: str, now: float) -> bool:
        """Record one latency; True when this sample raised a new event."""
        if not math.isfinite(latency_ms) or latency_ms < 0:
            return False
        window = self._samples.setdefault(task, [])
        window.append(float(latency_ms))
        if len(window) < self.config.latency_window:
            return False
        values = np.array(window)
        window.clear()
        bad = any(latency_statistic(values, m) > bound for m, bound in self.bounds(task))
        self._bad[task] = self._bad.get(task, 0) + 1 if bad else 0
        if self._bad[task] >= self.config.latency_violations:
            self._bad[task] = 0
            hold = self._backoff.next_hold((task, processor), now)
            self._raised[task] = (processor, now + hold)
            return True
        return False

    def events(self, now: float) -> frozenset[Event]:
        for task in [t for t, (_, until) in self._raised.items() if now >= until]:
            del self._raised[task]
        return frozenset(ProcessorOverloaded(p) for p, _ in self._raised.values())


# -- the policy ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """What the policy decided at ``stamp``: the active events, the design to run, whether
    it changed, and how long the decision took (lookup included): ``decision_time_s`` in
    wall-clock time (which counts time the thread waited for a core on a busy machine),
    ``decision_cpu_s`` in the deciding thread's CPU time (the work itself)."""

    stamp: float
    events: frozenset[Event]
    design: JointDesign | None
    changed: bool
    feasible: bool
    precomputed: bool
    score: float
    decision_time_s: float
    answer: Answer = field(repr=False)
    decision_cpu_s: float = math.nan


class RuntimePolicy:
    """Switches designs by lookup in a :class:`DesignSet` as events start and end.

    Call :meth:`update` with each device observation, :meth:`observe_latency` with each
    inference's latency, :meth:`report_failure` when a processor failed a task, and
    :meth:`set_event` for events signalled from outside (e.g. a ROS topic). Never solves: a
    design-set lookup, or its cheap fallback for event sets that were not precomputed. When
    no design can run at all the current one is kept.
    """

    def __init__(self, design_set: DesignSet, detector: EventDetector | None = None,
                 latency_watch: LatencyWatch | None = None) -> None:
        self.design_set = design_set
        self.detector = detector or EventDetector(design_set.processors, design_set.n_cores)
        self.latency_watch = latency_watch or LatencyWatch(design_set.spec,
                                                           self.detector.config)
        model_levels = {level for level, _ in design_set.event_model.memory_levels}
        detector_levels = {level for level, _ in self.detector.config.memory}
        if not detector_levels <= model_levels:
            raise EventError(f'detection.memory.levels {sorted(detector_levels)} must be '
                             f'levels of the event model {sorted(model_levels)}')
        self.failures = FailureWatch(self.detector.config)
        self.manual: set[Event] = set()
        self.current: Answer = design_set.primary
        self.events: frozenset[Event] = frozenset()
        self._latency_events: frozenset[Event] = frozenset()

    @property
    def design(self) -> JointDesign | None:
        return self.current.design

    def set_design_set(self, design_set: DesignSet) -> None:
        """Adopt a new design set (after a re-solve for new SLOs); takes effect next update."""
        self.design_set = design_set
        self.latency_watch.set_spec(design_set.spec)

    def set_event(self, event: Event, active: bool) -> None:
        """Start or end an event signalled from outside the detector; raises
        :class:`EventError` for an event about an unknown processor or memory level."""
        self.design_set.effect([event])
        (self.manual.add if active else self.manual.discard)(event)

    def report_failure(self, processor: str, now: float) -> float:
        """A design on ``processor`` failed (would not build, or kept failing while serving):
        the processor is unavailable for a back-off hold (returned, in seconds), then tried
        again. Raises :class:`EventError` for an unknown processor."""
        self.design_set.effect([ProcessorUnavailable(processor)])
        return self.failures.report(processor, now)

    def observe_latency(self, task: str, latency_ms: float, now: float | None = None) -> bool:
        """Feed one observed latency of ``task`` (run on its current processor); True when
        it raised an overload event (applied at the next :meth:`update` or :meth:`decide`)."""
        design = self.current.design
        if design is None or task not in design.tasks:
            return False
        now = time.monotonic() if now is None else now
        return self.latency_watch.observe(task, latency_ms, design.for_task(task).processor,
                                          now)

    def update(self, state: DeviceState) -> Decision:
        """Detect events in ``state`` and decide."""
        self.detector.update(state)
        return self.decide(state.stamp)

    def active_events(self, now: float) -> frozenset[Event]:
        """Every event known at ``now``: detector, latency watch, failures and manual."""
        return frozenset(self.detector.events | self.latency_watch.events(now) |
                         self.failures.events(now) | self.manual)

    def decide(self, now: float) -> Decision:
        """Decide on the events currently known (detector, latency watch, failures, manual)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        events = self.active_events(now)
        answer = self.design_set.lookup(events)
        previous = self.current.design
        if answer.design is not None:
            self.current = answer
        self.events = events
        elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
        return Decision(now, events, self.current.design, self.current.design != previous,
                        answer.feasible, answer.precomputed, answer.score, elapsed, answer, cpu)


def standby_designs(design_set: DesignSet, task: str, events: Iterable[Event] = (),
                    limit: int = 8) -> list[Design]:
    """The designs of ``task`` worth keeping warm now: the design set's likeliest (see
    :meth:`DesignSet.likely_designs`), at most ``limit``; none under memory pressure, since
    spares hold memory that the designs' own figures do not count."""
    if any(isinstance(e, MemoryPressure) for e in events):
        return []
    return design_set.likely_designs(task)[:limit]


def known_events(events: Iterable[Event], design_set: DesignSet) -> frozenset[Event]:
    """``events`` restricted to those about processors of ``design_set``."""
    names = {p.name for p in design_set.processors}
    return frozenset(e for e in events if not isinstance(
        e, (ProcessorOverloaded, ProcessorUnavailable)) or e.processor in names)

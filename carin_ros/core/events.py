"""Runtime events and what each does to the design space (the event model, config/events.yaml).

Effects of an event set on the processors ``q`` of the device:

* ``ProcessorOverloaded(p)``: latency on ``q`` times ``1 + sum_p (f - 1) * overlap(q, p)``
  (``f`` = ``overload.latency_factor``; ``overlap`` as in :mod:`contention`, so an overloaded
  ``cpu0`` would slow the 2-core ``cpu`` by half as much, but ``multithread_full`` (default)
  gives every multi-thread processor sharing a core the full factor; ``spread_to_sharing:
  false`` limits the effect to ``p`` itself). Throughput is divided by the same factor.
* ``ProcessorUnavailable(p)``: designs on ``p`` are excluded, and with
  ``unavailable.exclude_sharing`` (default) so are designs on every processor whose hardware
  units include all of ``p``'s (an unavailable ``cpu0`` takes the 2-core ``cpu`` with it; an
  unavailable ``cpu`` configuration leaves the single-core ``cpu0``/``cpu1`` usable).
* ``MemoryPressure(level)``: the app memory budget becomes ``factor(level)`` times the app
  ``memory_mb`` max of the SLO, or of the primary design's app memory when the SLO sets none.
* ``Thermal()``: latency on every CPU processor times ``thermal.cpu_latency_factor``.
* ``LowBattery()``: processors with more than one thread are excluded
  (``low_battery.exclude_multithread``) and the weights of energy objectives are multiplied by
  ``low_battery.energy_weight_factor``.

Factors of several events multiply (overload excesses add up first).
"""
from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from carin_ros.core.contention import overlap
from carin_ros.core.profiles import Metric
from carin_ros.core.space import Processor


class EventError(ValueError):
    """A malformed event or event model: names the source and the field."""


@dataclass(frozen=True, order=True)
class ProcessorOverloaded:
    """Another workload keeps ``processor`` (or a unit it uses) busy."""

    processor: str

    @property
    def key(self) -> str:
        return f'overloaded:{self.processor}'


@dataclass(frozen=True, order=True)
class ProcessorUnavailable:
    """``processor`` cannot be used (provider gone, core reserved or offline)."""

    processor: str

    @property
    def key(self) -> str:
        return f'unavailable:{self.processor}'


@dataclass(frozen=True, order=True)
class MemoryPressure:
    """Free memory is low; ``level`` names a budget factor of the event model."""

    level: str

    @property
    def key(self) -> str:
        return f'memory:{self.level}'


@dataclass(frozen=True, order=True)
class Thermal:
    """The device is throttling (or about to): CPU processors get slower."""

    @property
    def key(self) -> str:
        return 'thermal'


@dataclass(frozen=True, order=True)
class LowBattery:
    """Battery is low and not charging: save energy."""

    @property
    def key(self) -> str:
        return 'low_battery'


Event = ProcessorOverloaded | ProcessorUnavailable | MemoryPressure | Thermal | LowBattery
EventSet = frozenset


def event_key(events: Iterable[Event]) -> str:
    """Canonical text of an event set: sorted keys joined by ``+``; ``none`` when empty."""
    keys = sorted(e.key for e in events)
    return '+'.join(keys) if keys else 'none'


def parse_event(text: str) -> Event:
    """``overloaded:cpu0`` (or ``overload:``), ``unavailable:cpu1``, ``memory:critical``,
    ``thermal``, ``low_battery``."""
    kind, _, arg = text.strip().partition(':')
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind in ('overloaded', 'overload') and arg:
        return ProcessorOverloaded(arg)
    if kind == 'unavailable' and arg:
        return ProcessorUnavailable(arg)
    if kind == 'memory' and arg:
        return MemoryPressure(arg)
    if kind == 'thermal' and not arg:
        return Thermal()
    if kind in ('low_battery', 'battery') and not arg:
        return LowBattery()
    raise EventError(f'unknown event {text!r} (expected overloaded:<processor>, '
                     f'unavailable:<processor>, memory:<level>, thermal or low_battery)')


def parse_event_set(text: str) -> frozenset[Event]:
    """``overloaded:cpu0+memory:high`` (also comma separated); ``none`` or empty = no event."""
    text = text.strip()
    if text in ('', 'none'):
        return frozenset()
    return frozenset(parse_event(p) for p in text.replace(',', '+').split('+') if p.strip())


@dataclass(frozen=True)
class EventEffect:
    """What an event set does: per-processor latency factors, excluded processors, app
    memory budget factor (None: unchanged) and objective weight factors per metric."""

    latency_factor: tuple[tuple[str, float], ...]
    excluded: frozenset[str]
    memory_factor: float | None
    weight_factor: tuple[tuple[Metric, float], ...] = ()

    def factor(self, processor: str) -> float:
        return dict(self.latency_factor).get(processor, 1.0)

    def weight(self, metric: Metric) -> float:
        return dict(self.weight_factor).get(metric, 1.0)


@dataclass(frozen=True)
class EventModel:
    """The tunable event effects (see the module docstring); defaults = config/events.yaml."""

    overload_latency_factor: float = 2.0
    overload_spread_to_sharing: bool = True
    overload_multithread_full: bool = True
    unavailable_exclude_sharing: bool = True
    memory_levels: tuple[tuple[str, float], ...] = (('high', 0.75), ('critical', 0.5))
    thermal_cpu_latency_factor: float = 1.5
    low_battery_exclude_multithread: bool = True
    low_battery_energy_weight_factor: float = 2.0
    anticipate: tuple[str, ...] = field(
        default=('overloaded', 'unavailable', 'memory', 'thermal', 'low_battery'))

    def __post_init__(self) -> None:
        for name in ('overload_latency_factor', 'thermal_cpu_latency_factor',
                     'low_battery_energy_weight_factor'):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 1.0):
                raise EventError(f'event model: {name} must be a number >= 1, got {v!r}')
        for level, f in self.memory_levels:
            if not (isinstance(f, (int, float)) and 0 < f <= 1):
                raise EventError(f'event model: memory_pressure.levels.{level} must be in '
                                 f'(0, 1], got {f!r}')
        bad = set(self.anticipate) - {'overloaded', 'unavailable', 'memory', 'thermal',
                                      'low_battery'}
        if bad:
            raise EventError(f'event model: anticipate: unknown kinds {sorted(bad)}')

    # -- effects -------------------------------------------------------------------------
    def memory_factor(self, level: str) -> float:
        """The budget factor of a named level, or of a numeric level such as ``'0.6'``."""
        levels = dict(self.memory_levels)
        if level in levels:
            return levels[level]
        try:
            factor = float(level)
        except ValueError:
            factor = math.nan
        if not 0 < factor <= 1:
            raise EventError(f'unknown memory pressure level {level!r} (levels: '
                             f'{sorted(levels)}, or a budget factor in (0, 1])')
        return factor

    def canonical(self, events: Iterable[Event]) -> frozenset[Event]:
        """``events`` with numeric memory levels equal to a named level's factor renamed
        (``memory:0.5`` -> ``memory:critical``), so lookups find the precomputed answer."""
        by_factor = {f: name for name, f in reversed(self.memory_levels)}
        out: set[Event] = set()
        for e in events:
            if isinstance(e, MemoryPressure) and e.level not in dict(self.memory_levels):
                name = by_factor.get(self.memory_factor(e.level))
                e = MemoryPressure(name) if name else e
            out.add(e)
        return frozenset(out)

    def effect(self, events: Iterable[Event], processors: Sequence[Processor],
               n_cores: int) -> EventEffect:
        """The combined effect of ``events`` on ``processors``."""
        events = list(events)
        by_name = {p.name: p for p in processors}
        for e in events:
            if isinstance(e, (ProcessorOverloaded, ProcessorUnavailable)) and \
                    e.processor not in by_name:
                raise EventError(f'event {e.key}: unknown processor (processors: '
                                 f'{sorted(by_name)})')
        excess = {q.name: 0.0 for q in processors}
        excluded: set[str] = set()
        memory: float | None = None
        thermal = False
        low_battery = False
        for e in events:
            if isinstance(e, ProcessorOverloaded):
                p = by_name[e.processor]
                for q in processors:
                    share = overlap(q, p, n_cores) if self.overload_spread_to_sharing else 0.0
                    if q.name == p.name or (self.overload_multithread_full and q.threads > 1
                                            and share > 0):
                        # A multi-thread session's threads meet at every operator: the slowest
                        # (overloaded) core sets the pace of the whole session.
                        share = 1.0
                    excess[q.name] += (self.overload_latency_factor - 1.0) * share
            elif isinstance(e, ProcessorUnavailable):
                p = by_name[e.processor]
                excluded.add(p.name)
                if self.unavailable_exclude_sharing:
                    excluded.update(q.name for q in processors
                                    if q.resources(n_cores) >= p.resources(n_cores))
            elif isinstance(e, MemoryPressure):
                f = self.memory_factor(e.level)
                memory = f if memory is None else min(memory, f)
            elif isinstance(e, Thermal):
                thermal = True
            elif isinstance(e, LowBattery):
                low_battery = True
            else:
                raise EventError(f'not an event: {e!r}')
        factors = []
        for q in processors:
            f = 1.0 + excess[q.name]
            if thermal and q.is_cpu:
                f *= self.thermal_cpu_latency_factor
            if f != 1.0:
                factors.append((q.name, f))
        if low_battery and self.low_battery_exclude_multithread:
            excluded.update(q.name for q in processors if q.threads > 1)
        weights = ((Metric.ENERGY, self.low_battery_energy_weight_factor),) if low_battery else ()
        return EventEffect(tuple(factors), frozenset(excluded), memory, weights)

    # -- anticipation --------------------------------------------------------------------
    def anticipated(self, processors: Sequence[Processor]) -> tuple[Event, ...]:
        """Every single event RASS precomputes an answer for, on these processors."""
        out: list[Event] = []
        if 'overloaded' in self.anticipate:
            out += [ProcessorOverloaded(p.name) for p in processors]
        if 'unavailable' in self.anticipate:
            out += [ProcessorUnavailable(p.name) for p in processors]
        if 'memory' in self.anticipate:
            out += [MemoryPressure(level) for level, _ in self.memory_levels]
        if 'thermal' in self.anticipate and any(p.is_cpu for p in processors):
            out.append(Thermal())
        if 'low_battery' in self.anticipate:
            out.append(LowBattery())
        return tuple(out)

    def event_sets(self, processors: Sequence[Processor],
                   max_simultaneous: int = 2) -> list[frozenset[Event]]:
        """The empty set, every anticipated event, and every combination of up to
        ``max_simultaneous`` of them (at most one memory level per set)."""
        singles = self.anticipated(processors)
        out: list[frozenset[Event]] = [frozenset()]
        for k in range(1, max(0, max_simultaneous) + 1):
            for combo in itertools.combinations(singles, k):
                if sum(isinstance(e, MemoryPressure) for e in combo) > 1:
                    continue
                out.append(frozenset(combo))
        return out

    # -- YAML ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            'overload': {'latency_factor': self.overload_latency_factor,
                         'spread_to_sharing': self.overload_spread_to_sharing,
                         'multithread_full': self.overload_multithread_full},
            'unavailable': {'exclude_sharing': self.unavailable_exclude_sharing},
            'memory_pressure': {'levels': dict(self.memory_levels)},
            'thermal': {'cpu_latency_factor': self.thermal_cpu_latency_factor},
            'low_battery': {'exclude_multithread': self.low_battery_exclude_multithread,
                            'energy_weight_factor': self.low_battery_energy_weight_factor},
            'anticipate': list(self.anticipate),
        }

    @classmethod
    def from_dict(cls, data: Mapping, source: str = '<dict>') -> EventModel:
        if not isinstance(data, Mapping):
            raise EventError(f'{source}: top level must be a mapping')
        schema: dict[str, dict[str, tuple[str, type]]] = {
            'overload': {'latency_factor': ('overload_latency_factor', float),
                         'spread_to_sharing': ('overload_spread_to_sharing', bool),
                         'multithread_full': ('overload_multithread_full', bool)},
            'unavailable': {'exclude_sharing': ('unavailable_exclude_sharing', bool)},
            'memory_pressure': {'levels': ('memory_levels', dict)},
            'thermal': {'cpu_latency_factor': ('thermal_cpu_latency_factor', float)},
            'low_battery': {'exclude_multithread': ('low_battery_exclude_multithread', bool),
                            'energy_weight_factor': ('low_battery_energy_weight_factor',
                                                     float)},
        }
        # ``detection`` (thresholds of the runtime detector) is read by policy.DetectorConfig.
        unknown = set(data) - set(schema) - {'anticipate', 'detection'}
        if unknown:
            raise EventError(f'{source}: unknown keys {sorted(unknown)} '
                             f'(expected {sorted([*schema, "anticipate"])})')
        kwargs: dict = {}
        for section, fields in schema.items():
            body = data.get(section)
            if body is None:
                continue
            if not isinstance(body, Mapping):
                raise EventError(f'{source}: {section} must be a mapping')
            extra = set(body) - set(fields)
            if extra:
                raise EventError(f'{source}: {section}: unknown keys {sorted(extra)}')
            for key, (attr, kind) in fields.items():
                if key not in body:
                    continue
                value = body[key]
                where = f'{source}: {section}.{key}'
                if kind is bool:
                    if not isinstance(value, bool):
                        raise EventError(f'{where} must be true or false, got {value!r}')
                elif kind is float:
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise EventError(f'{where} must be a number, got {value!r}')
                    value = float(value)
                else:
                    if not isinstance(value, Mapping) or not value:
                        raise EventError(f'{where} must map level names to factors')
                    for level, f in value.items():
                        if isinstance(f, bool) or not isinstance(f, (int, float)):
                            raise EventError(f'{where}.{level} must be a number, got {f!r}')
                    value = tuple((str(k), float(v)) for k, v in value.items())
                kwargs[attr] = value
        if 'anticipate' in data:
            anticipate = data['anticipate']
            if not isinstance(anticipate, list):
                raise EventError(f'{source}: anticipate must be a list of event kinds')
            kwargs['anticipate'] = tuple(str(a) for a in anticipate)
        try:
            return cls(**kwargs)
        except EventError as exc:
            raise EventError(str(exc).replace('event model:', f'{source}:', 1)) from exc

    @classmethod
    def load(cls, path: str | os.PathLike) -> EventModel:
        path = os.fspath(path)
        try:
            with open(path, encoding='utf-8') as f:
                data = yaml.safe_load(f)
        except OSError as exc:
            raise EventError(f'{path}: cannot read event model: {exc}') from exc
        except yaml.YAMLError as exc:
            raise EventError(f'{path}: malformed YAML: {exc}') from exc
        return cls.from_dict(data or {}, source=path)

"""Measured metrics per (task, variant, processor) and co-run slowdowns; YAML I/O."""
from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import yaml

from carin_ros.core.space import Design, DesignSpace, Precision, Processor, Variant

SCHEMA_VERSION = 1


class ProfileError(ValueError):
    """A profile database that cannot be read: names the file and the field."""


class Metric(enum.StrEnum):
    """Every metric a design is measured on, with its unit in the name."""

    ACCURACY = 'accuracy'
    LATENCY_MEAN = 'latency_mean_ms'
    LATENCY_STD = 'latency_std_ms'
    LATENCY_P50 = 'latency_p50_ms'
    LATENCY_P90 = 'latency_p90_ms'
    LATENCY_P99 = 'latency_p99_ms'
    THROUGHPUT = 'throughput_fps'
    MEMORY = 'memory_mb'
    SIZE = 'size_mb'
    ENERGY = 'energy_mj'

    def __str__(self) -> str:
        return self.value

    @property
    def higher_is_better(self) -> bool:
        return self in (Metric.ACCURACY, Metric.THROUGHPUT)

    @property
    def is_latency(self) -> bool:
        return self.value.startswith('latency_')


LATENCY_STATS = ('mean', 'std', 'p50', 'p90', 'p99')
_PERCENTILE = {Metric.LATENCY_P50: 50, Metric.LATENCY_P90: 90, Metric.LATENCY_P99: 99}


def latency_statistic(values: np.ndarray, metric: Metric) -> float:
    """The latency ``metric`` (mean, std or a percentile) of observed latencies."""
    if metric is Metric.LATENCY_MEAN:
        return float(values.mean())
    if metric is Metric.LATENCY_STD:
        return float(values.std())
    if metric not in _PERCENTILE:
        raise ValueError(f'{metric} is not a latency statistic')
    return float(np.percentile(values, _PERCENTILE[metric]))


def save_yaml(path: str | os.PathLike, data: object) -> None:
    """Write ``data`` as YAML atomically (a reader never sees a half-written file)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f, sort_keys=False)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Metrics:
    """What one design measured alone on the device.

    ``memory_mb`` is the peak resident memory the design adds to a process (session plus
    buffers); ``size_mb`` the model bytes on disk; ``energy_mj`` per inference, when measured.
    """

    accuracy: float
    latency_mean_ms: float
    latency_std_ms: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    throughput_fps: float
    memory_mb: float
    size_mb: float
    energy_mj: float | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == 'energy_mj':
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
                raise ValueError(f'metric {f.name} must be a number, got {value!r}')
            if value < 0:
                raise ValueError(f'metric {f.name} must be >= 0, got {value!r}')
        if not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f'accuracy must be in [0, 1], got {self.accuracy!r}')

    def get(self, metric: Metric | str) -> float | None:
        return getattr(self, Metric(metric).value)

    def to_dict(self) -> dict:
        out = {
            'accuracy': float(self.accuracy),
            'latency_ms': {s: float(getattr(self, f'latency_{s}_ms')) for s in LATENCY_STATS},
            'throughput_fps': float(self.throughput_fps),
            'memory_mb': float(self.memory_mb),
            'size_mb': float(self.size_mb),
        }
        if self.energy_mj is not None:
            out['energy_mj'] = float(self.energy_mj)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Metrics:
        lat = data.get('latency_ms')
        if not isinstance(lat, Mapping):
            raise ValueError('missing mapping "latency_ms" with mean/std/p50/p90/p99')
        missing = [s for s in LATENCY_STATS if s not in lat]
        if missing:
            raise ValueError(f'latency_ms lacks {missing}')
        for key in ('accuracy', 'throughput_fps', 'memory_mb', 'size_mb'):
            if key not in data:
                raise ValueError(f'missing key "{key}"')
        return cls(accuracy=_num(data['accuracy'], 'accuracy'),
                   **{f'latency_{s}_ms': _num(lat[s], f'latency_ms.{s}') for s in LATENCY_STATS},
                   throughput_fps=_num(data['throughput_fps'], 'throughput_fps'),
                   memory_mb=_num(data['memory_mb'], 'memory_mb'),
                   size_mb=_num(data['size_mb'], 'size_mb'),
                   energy_mj=None if data.get('energy_mj') is None
                   else _num(data['energy_mj'], 'energy_mj'))


def _num(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{name} must be a number, got {value!r}')
    return float(value)


@dataclass(frozen=True)
class CoRun:
    """Measured slowdown when two designs of different tasks run at the same time.

    ``slowdown_a`` = latency of ``a`` while ``b`` runs / latency of ``a`` alone (>= ~1).
    """

    a: Design
    b: Design
    slowdown_a: float
    slowdown_b: float

    def to_dict(self) -> dict:
        return {'a': dataclasses.asdict(self.a), 'b': dataclasses.asdict(self.b),
                'slowdown_a': float(self.slowdown_a), 'slowdown_b': float(self.slowdown_b)}

    @classmethod
    def from_dict(cls, data: Mapping) -> CoRun:
        def design(d) -> Design:
            if not isinstance(d, Mapping) or set(d) != {'task', 'variant', 'processor'}:
                raise ValueError(f'co-run side must have task, variant, processor: {d!r}')
            return Design(str(d['task']), str(d['variant']), str(d['processor']))
        sa, sb = _num(data.get('slowdown_a'), 'slowdown_a'), _num(data.get('slowdown_b'),
                                                                   'slowdown_b')
        if sa <= 0 or sb <= 0:
            raise ValueError('co-run slowdowns must be > 0')
        return cls(design(data.get('a')), design(data.get('b')), sa, sb)


class ProfileDB:
    """Profiles of one device: processors, variants, per-design metrics and co-runs."""

    def __init__(self, device: str, processors: Iterable[Processor], variants: Iterable[Variant],
                 entries: Mapping[Design, Metrics] | None = None,
                 coruns: Iterable[CoRun] = (), n_cores: int = 1, zoo_version: str = '',
                 meta: Mapping | None = None) -> None:
        self.device = device
        self.processors: tuple[Processor, ...] = tuple(processors)
        self.variants: tuple[Variant, ...] = tuple(variants)
        self.entries: dict[Design, Metrics] = dict(entries or {})
        self.coruns: list[CoRun] = list(coruns)
        self.n_cores = int(n_cores)
        self.zoo_version = str(zoo_version)
        self.meta: dict = dict(meta or {})
        names = [p.name for p in self.processors]
        if len(set(names)) != len(names):
            raise ProfileError(f'duplicate processor names: {names}')
        keys = [(v.task, v.name) for v in self.variants]
        if len(set(keys)) != len(keys):
            raise ProfileError('duplicate variants')

    # -- queries -------------------------------------------------------------------------
    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(sorted({v.task for v in self.variants}))

    def task_variants(self, task: str) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.task == task)

    def variant(self, task: str, name: str) -> Variant:
        for v in self.variants:
            if v.task == task and v.name == name:
                return v
        raise KeyError(f'unknown variant {task}/{name}')

    def processor(self, name: str) -> Processor:
        for p in self.processors:
            if p.name == name:
                return p
        raise KeyError(f'unknown processor {name!r}')

    def get(self, design: Design) -> Metrics:
        return self.entries[design]

    def __contains__(self, design: Design) -> bool:
        return design in self.entries

    def add(self, design: Design, metrics: Metrics) -> None:
        self.variant(design.task, design.variant)
        self.processor(design.processor)
        self.entries[design] = metrics

    def corun(self, a: Design, b: Design) -> tuple[float, float] | None:
        """(slowdown of a, slowdown of b) when measured, in either order, else None."""
        for c in self.coruns:
            if c.a == a and c.b == b:
                return c.slowdown_a, c.slowdown_b
            if c.a == b and c.b == a:
                return c.slowdown_b, c.slowdown_a
        return None

    def design_space(self, tasks: Iterable[str] | None = None,
                     processors: Iterable[str] | None = None) -> DesignSpace:
        """The joint space over ``tasks`` restricted to designs that have a profile."""
        tasks = tuple(tasks) if tasks is not None else self.tasks
        procs = self.processors if processors is None else tuple(
            self.processor(p) for p in processors)
        allowed = {}
        for t in tasks:
            if not self.task_variants(t):
                raise ProfileError(f'no variants profiled for task {t!r} on {self.device}')
            allowed[t] = tuple(sorted(d for d in self.entries if d.task == t and
                                      d.processor in {p.name for p in procs}))
            if not allowed[t]:
                raise ProfileError(f'no profiled designs for task {t!r} on {self.device}')
        return DesignSpace(tasks=tasks, variants={t: self.task_variants(t) for t in tasks},
                           processors=procs, n_cores=self.n_cores, allowed=allowed)

    # -- YAML ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            'schema_version': SCHEMA_VERSION,
            'device': self.device,
            'n_cores': self.n_cores,
            'zoo_version': self.zoo_version,
            'meta': self.meta,
            'processors': [p.to_dict() for p in self.processors],
            'variants': [{'task': v.task, 'name': v.name, 'arch': v.arch,
                          'precision': v.precision.value} for v in self.variants],
            'profiles': [{'task': d.task, 'variant': d.variant, 'processor': d.processor,
                          **m.to_dict()} for d, m in sorted(self.entries.items())],
            'coruns': [c.to_dict() for c in self.coruns],
        }

    @classmethod
    def from_dict(cls, data: Mapping, source: str = '<dict>') -> ProfileDB:
        if not isinstance(data, Mapping):
            raise ProfileError(f'{source}: top level must be a mapping')
        known = {'schema_version', 'device', 'n_cores', 'zoo_version', 'meta', 'processors',
                 'variants', 'profiles', 'coruns'}
        unknown = set(data) - known
        if unknown:
            raise ProfileError(f'{source}: unknown keys {sorted(unknown)}')
        version = data.get('schema_version')
        if version != SCHEMA_VERSION:
            raise ProfileError(f'{source}: schema_version is {version!r}, this carin_ros reads '
                               f'{SCHEMA_VERSION}')
        if not isinstance(data.get('device'), str):
            raise ProfileError(f'{source}: "device" must be a string')

        def each(key):
            items = data.get(key) or []
            if not isinstance(items, list):
                raise ProfileError(f'{source}: "{key}" must be a list')
            for i, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise ProfileError(f'{source}: {key}[{i}] must be a mapping')
                yield i, item

        try:
            processors = []
            for i, p in each('processors'):
                processors.append(_field(source, f'processors[{i}]', Processor.from_dict, p))
            variants = []
            for i, v in each('variants'):
                variants.append(_field(source, f'variants[{i}]', lambda v: Variant(
                    str(v['task']), str(v['name']), str(v['arch']), Precision(v['precision'])), v))
            db = cls(data['device'], processors, variants, n_cores=int(data.get('n_cores', 1)),
                     zoo_version=str(data.get('zoo_version', '')), meta=data.get('meta') or {})
            for i, row in each('profiles'):
                where = f'profiles[{i}]'
                design = _field(source, where, lambda r: Design(
                    str(r['task']), str(r['variant']), str(r['processor'])), row)
                rest = {k: v for k, v in row.items() if k not in ('task', 'variant', 'processor')}
                metrics = _field(source, where, Metrics.from_dict, rest)
                _field(source, where, lambda pair: db.add(*pair), (design, metrics))
            for i, c in each('coruns'):
                db.coruns.append(_field(source, f'coruns[{i}]', CoRun.from_dict, c))
        except ProfileError:
            raise
        except (TypeError, ValueError) as exc:
            raise ProfileError(f'{source}: {exc}') from exc
        return db

    @classmethod
    def load(cls, path: str | os.PathLike) -> ProfileDB:
        path = os.fspath(path)
        try:
            with open(path, encoding='utf-8') as f:
                data = yaml.safe_load(f)
        except OSError as exc:
            raise ProfileError(f'{path}: cannot read profile database: {exc}') from exc
        except yaml.YAMLError as exc:
            raise ProfileError(f'{path}: malformed YAML: {exc}') from exc
        return cls.from_dict(data, source=path)

    def save(self, path: str | os.PathLike) -> None:
        save_yaml(path, self.to_dict())


def _field(source: str, where: str, fn, value):
    try:
        return fn(value)
    except KeyError as exc:
        raise ProfileError(f'{source}: {where}: missing key {exc}') from exc
    except (TypeError, ValueError) as exc:
        raise ProfileError(f'{source}: {where}: {exc}') from exc

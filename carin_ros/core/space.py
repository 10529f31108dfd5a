"""The design space: tasks, model variants, processors, and per-task and joint designs."""
from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


class Precision(enum.StrEnum):
    """Numeric precision of a model variant."""

    FP32 = 'fp32'
    FP16 = 'fp16'
    INT8 = 'int8'                  # static QDQ int8, calibrated
    INT8_DYNAMIC = 'int8_dynamic'  # dynamic (weights-only calibration) int8

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Variant:
    """One deployable model of a task: an architecture at a precision.

    ``name`` is unique within its task (e.g. ``efficientnet_lite0_int8``).
    """

    task: str
    name: str
    arch: str
    precision: Precision

    def __post_init__(self) -> None:
        if not self.task or not self.name or not self.arch:
            raise ValueError(f'variant needs task, name and arch, got {self!r}')
        object.__setattr__(self, 'precision', Precision(self.precision))


@dataclass(frozen=True)
class Processor:
    """A compute target: an ONNX Runtime execution provider plus its settings.

    ``cores`` are the CPU cores the session's threads are pinned to (empty: not pinned);
    ``device_id`` selects an accelerator. ``options`` are extra provider options as
    sorted ``(key, value)`` string pairs so the processor stays hashable.
    """

    name: str
    provider: str = 'CPUExecutionProvider'
    threads: int = 1
    cores: tuple[int, ...] = ()
    device_id: int | None = None
    options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError('processor needs a name')
        if self.threads < 1:
            raise ValueError(f'processor {self.name}: threads must be >= 1, got {self.threads}')
        object.__setattr__(self, 'cores', tuple(sorted(int(c) for c in self.cores)))
        object.__setattr__(self, 'options', tuple(sorted((str(k), str(v))
                                                         for k, v in dict(self.options).items())))

    @property
    def is_cpu(self) -> bool:
        return self.provider == 'CPUExecutionProvider'

    def resources(self, n_cores: int) -> frozenset[str]:
        """The hardware units this processor occupies (for contention between tasks).

        A CPU processor occupies its pinned cores, or all ``n_cores`` when not pinned;
        an accelerator occupies ``<provider>:<device_id>``. Note that accelerator providers
        also use a CPU thread to feed the device; that load is not modelled here.
        """
        if self.is_cpu:
            cores = self.cores or tuple(range(n_cores))
            return frozenset(f'cpu:{c}' for c in cores)
        return frozenset({f'{self.provider}:{self.device_id or 0}'})

    def to_dict(self) -> dict:
        out: dict = {'name': self.name, 'provider': self.provider, 'threads': self.threads}
        if self.cores:
            out['cores'] = list(self.cores)
        if self.device_id is not None:
            out['device_id'] = self.device_id
        if self.options:
            out['options'] = dict(self.options)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Processor:
        known = {'name', 'provider', 'threads', 'cores', 'device_id', 'options'}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f'processor: unknown keys {sorted(unknown)}')
        if 'name' not in data:
            raise ValueError('processor: missing key "name"')
        return cls(name=str(data['name']),
                   provider=str(data.get('provider', 'CPUExecutionProvider')),
                   threads=int(data.get('threads', 1)),
                   cores=tuple(data.get('cores', ()) or ()),
                   device_id=None if data.get('device_id') is None else int(data['device_id']),
                   options=tuple(dict(data.get('options', {}) or {}).items()))


@dataclass(frozen=True, order=True)
class Design:
    """One task's design: which variant runs on which processor."""

    task: str
    variant: str
    processor: str

    @property
    def key(self) -> str:
        """The compact form used in ROS parameters and logs: ``variant@processor``."""
        return f'{self.variant}@{self.processor}'

    @classmethod
    def parse(cls, task: str, key: str) -> Design:
        variant, sep, processor = key.partition('@')
        if not sep or not variant or not processor:
            raise ValueError(f'design {key!r} is not of the form "variant@processor"')
        return cls(task, variant, processor)


@dataclass(frozen=True)
class JointDesign:
    """A design for a whole application: one :class:`Design` per task, sorted by task."""

    designs: tuple[Design, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.designs))
        tasks = [d.task for d in ordered]
        if len(set(tasks)) != len(tasks):
            raise ValueError(f'joint design has a task twice: {tasks}')
        object.__setattr__(self, 'designs', ordered)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(d.task for d in self.designs)

    def for_task(self, task: str) -> Design:
        for d in self.designs:
            if d.task == task:
                return d
        raise KeyError(task)

    def processors(self) -> frozenset[str]:
        return frozenset(d.processor for d in self.designs)

    def as_dict(self) -> dict[str, str]:
        return {d.task: d.key for d in self.designs}

    def __str__(self) -> str:
        return ', '.join(f'{d.task}={d.key}' for d in self.designs)


@dataclass(frozen=True)
class DesignSpace:
    """The tasks of an application, their variants and the device's processors.

    The joint space is the Cartesian product over tasks of (variant x processor);
    single-DNN applications are the one-task case.
    """

    tasks: tuple[str, ...]
    variants: Mapping[str, tuple[Variant, ...]]
    processors: tuple[Processor, ...]
    n_cores: int = 1
    allowed: Mapping[str, tuple[Design, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for task in self.tasks:
            if not self.variants.get(task):
                raise ValueError(f'design space: task {task!r} has no variants')
        if not self.processors:
            raise ValueError('design space: no processors')

    def processor(self, name: str) -> Processor:
        for p in self.processors:
            if p.name == name:
                return p
        raise KeyError(f'unknown processor {name!r}')

    def task_designs(self, task: str) -> tuple[Design, ...]:
        """Every (variant, processor) pair of ``task`` (or the explicitly allowed subset)."""
        if task in self.allowed:
            return tuple(self.allowed[task])
        return tuple(Design(task, v.name, p.name)
                     for v in self.variants[task] for p in self.processors)

    @property
    def size(self) -> int:
        """Number of joint designs."""
        return math.prod(len(self.task_designs(t)) for t in self.tasks)

    def __iter__(self) -> Iterator[JointDesign]:
        import itertools
        for combo in itertools.product(*(self.task_designs(t) for t in self.tasks)):
            yield JointDesign(tuple(combo))

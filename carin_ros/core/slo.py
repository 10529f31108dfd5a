"""Service-level objectives: constraints and objectives per task or app, YAML and ROS params."""
from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import yaml

from carin_ros.core.profiles import Metric

APP = 'app'
"""The scope name of whole-application constraints and objectives."""

UNSET = math.nan
"""ROS parameter value of a bound that is not set (parameters stay typed as double)."""

_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


class SloError(ValueError):
    """A malformed or inconsistent SLO spec: the message names the source and the field."""


class Bound(enum.StrEnum):
    """Which side of a constraint: the metric must stay at least ``min`` or at most ``max``."""

    MIN = 'min'
    MAX = 'max'

    def __str__(self) -> str:
        return self.value


class Direction(enum.StrEnum):
    """Whether an objective is maximised or minimised."""

    MAX = 'max'
    MIN = 'min'

    def __str__(self) -> str:
        return self.value


def natural_direction(metric: Metric) -> Direction:
    """The direction in which ``metric`` gets better."""
    return Direction.MAX if metric.higher_is_better else Direction.MIN


def aggregate(metric: Metric, values: Sequence[float]) -> float:
    """The app-level value of ``metric`` from its per-task values.

    latency (every statistic) = max over tasks, throughput = min, accuracy = mean,
    memory/size/energy = sum.
    """
    if not values:
        raise ValueError('aggregate over no tasks')
    if metric.is_latency:
        return max(values)
    if metric is Metric.THROUGHPUT:
        return min(values)
    if metric is Metric.ACCURACY:
        return sum(values) / len(values)
    return sum(values)


@dataclass(frozen=True)
class Constraint:
    """``metric`` of ``scope`` (a task or ``app``) must be >= (min) or <= (max) ``value``."""

    scope: str
    metric: Metric
    bound: Bound
    value: float

    def satisfied(self, value: float) -> bool:
        if value != value:  # NaN: not measured, cannot be shown to meet the constraint
            return False
        return value >= self.value if self.bound is Bound.MIN else value <= self.value

    def violation(self, value: float) -> float:
        """How far ``value`` misses the bound, relative to the bound (0 when satisfied)."""
        if value != value:
            return math.inf
        scale = abs(self.value) or 1.0
        miss = self.value - value if self.bound is Bound.MIN else value - self.value
        return max(0.0, miss) / scale

    @property
    def param(self) -> str:
        return f'slo.{self.scope}.{self.metric.value}.{self.bound.value}'

    def __str__(self) -> str:
        op = '>=' if self.bound is Bound.MIN else '<='
        return f'{self.scope}.{self.metric.value} {op} {self.value:g}'


@dataclass(frozen=True)
class Objective:
    """Optimise ``metric`` of ``scope`` in ``direction`` with relative ``weight`` (> 0)."""

    scope: str
    metric: Metric
    direction: Direction
    weight: float = 1.0

    @property
    def name(self) -> str:
        return f'{self.scope}.{self.metric.value}'


@dataclass(frozen=True)
class SloSpec:
    """The application's tasks, constraints, objectives and optional input rates (Hz)."""

    tasks: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()
    objectives: tuple[Objective, ...] = ()
    rates: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not self.tasks:
            raise SloError('spec: "tasks" must list at least one task')
        if len(set(self.tasks)) != len(self.tasks):
            raise SloError(f'spec: "tasks" lists a task twice: {list(self.tasks)}')
        for t in self.tasks:
            if not isinstance(t, str) or not _NAME.match(t) or t == APP:
                raise SloError(f'spec: task name {t!r} must match [A-Za-z][A-Za-z0-9_]* '
                               f'and not be "{APP}"')
        # Canonical order (YAML and ROS parameters give the same spec): sorted by name.
        object.__setattr__(self, 'constraints', tuple(sorted(
            self.constraints, key=lambda c: (c.scope, c.metric.value, c.bound.value))))
        object.__setattr__(self, 'objectives', tuple(sorted(self.objectives,
                                                            key=lambda o: o.name)))
        object.__setattr__(self, 'rates', tuple(sorted(self.rates)))
        scopes = set(self.tasks) | {APP}
        seen: set[tuple[str, Metric, Bound]] = set()
        for c in self.constraints:
            if c.scope not in scopes:
                raise SloError(f'spec: slo.{c.scope}: unknown task (tasks: {list(self.tasks)})')
            key = (c.scope, c.metric, c.bound)
            if key in seen:
                raise SloError(f'spec: {c.param} given twice')
            seen.add(key)
            _check_bound(c.param, c.metric, c.value)
        for c in self.constraints:
            if c.bound is Bound.MIN:
                hi = self.bound(c.scope, c.metric, Bound.MAX)
                if hi is not None and hi < c.value:
                    raise SloError(f'spec: slo.{c.scope}.{c.metric.value}: min {c.value:g} '
                                   f'> max {hi:g}')
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise SloError(f'spec: an objective is given twice: {names}')
        for o in self.objectives:
            if o.scope not in scopes:
                raise SloError(f'spec: objectives.{o.scope}: unknown task '
                               f'(tasks: {list(self.tasks)})')
            if not (isinstance(o.weight, (int, float)) and math.isfinite(o.weight)
                    and o.weight > 0):
                raise SloError(f'spec: objectives.{o.name}.weight must be > 0, '
                               f'got {o.weight!r}')
        if not self.objectives:
            raise SloError('spec: "objectives" must name at least one objective')
        for task, hz in self.rates:
            if task not in self.tasks:
                raise SloError(f'spec: rates.{task}: unknown task (tasks: {list(self.tasks)})')
            if not (math.isfinite(hz) and hz > 0):
                raise SloError(f'spec: rates.{task} must be a rate in Hz > 0, got {hz!r}')

    # -- queries -------------------------------------------------------------------------
    def bound(self, scope: str, metric: Metric, bound: Bound) -> float | None:
        for c in self.constraints:
            if c.scope == scope and c.metric is metric and c.bound is bound:
                return c.value
        return None

    def rate(self, task: str) -> float | None:
        """Input rate of ``task`` in Hz, or None (the task runs back to back)."""
        return dict(self.rates).get(task)

    @property
    def metrics_used(self) -> frozenset[Metric]:
        return frozenset([c.metric for c in self.constraints] +
                         [o.metric for o in self.objectives])

    # -- dict / YAML ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        slo: dict = {}
        for c in self.constraints:
            slo.setdefault(c.scope, {}).setdefault(c.metric.value, {})[c.bound.value] = c.value
        objectives: dict = {}
        for o in self.objectives:
            objectives.setdefault(o.scope, {})[o.metric.value] = {
                'direction': o.direction.value, 'weight': float(o.weight)}
        out: dict = {'tasks': list(self.tasks), 'slo': slo, 'objectives': objectives}
        if self.rates:
            out['rates'] = {t: float(hz) for t, hz in self.rates}
        return out

    @classmethod
    def from_dict(cls, data: Mapping, source: str = '<dict>') -> SloSpec:
        if not isinstance(data, Mapping):
            raise SloError(f'{source}: top level must be a mapping')
        unknown = set(data) - {'tasks', 'slo', 'objectives', 'rates', 'description'}
        if unknown:
            raise SloError(f'{source}: unknown keys {sorted(unknown)} (expected tasks, slo, '
                           f'objectives, rates, description)')
        tasks = data.get('tasks')
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise SloError(f'{source}: "tasks" must be a list of task names')
        constraints: list[Constraint] = []
        for scope, metrics in _mapping(data.get('slo'), f'{source}: slo'):
            for metric, bounds in _mapping(metrics, f'{source}: slo.{scope}'):
                where = f'{source}: slo.{scope}.{metric}'
                m = _metric(metric, where)
                items = list(_mapping(bounds, where))
                if not items:
                    raise SloError(f'{where}: give "min" and/or "max"')
                for b, value in items:
                    if b not in ('min', 'max'):
                        raise SloError(f'{where}.{b}: expected "min" or "max"')
                    constraints.append(Constraint(str(scope), m, Bound(b),
                                                  _number(value, f'{where}.{b}')))
        objectives: list[Objective] = []
        for scope, metrics in _mapping(data.get('objectives'), f'{source}: objectives'):
            for metric, body in _mapping(metrics, f'{source}: objectives.{scope}'):
                where = f'{source}: objectives.{scope}.{metric}'
                m = _metric(metric, where)
                fields = dict(_mapping(body, where))
                extra = set(fields) - {'direction', 'weight'}
                if extra:
                    raise SloError(f'{where}: unknown keys {sorted(extra)} '
                                   f'(expected direction, weight)')
                direction = fields.get('direction', natural_direction(m).value)
                if direction not in ('max', 'min'):
                    raise SloError(f'{where}.direction: expected "max" or "min", '
                                   f'got {direction!r}')
                weight = _number(fields.get('weight', 1.0), f'{where}.weight')
                objectives.append(Objective(str(scope), m, Direction(direction), weight))
        rates = tuple((str(t), _number(hz, f'{source}: rates.{t}'))
                      for t, hz in _mapping(data.get('rates'), f'{source}: rates'))
        try:
            return cls(tuple(tasks), tuple(constraints), tuple(objectives), rates)
        except SloError as exc:
            raise SloError(str(exc).replace('spec:', f'{source}:', 1)) from exc

    @classmethod
    def load(cls, path: str | os.PathLike) -> SloSpec:
        path = os.fspath(path)
        try:
            with open(path, encoding='utf-8') as f:
                data = yaml.safe_load(f)
        except OSError as exc:
            raise SloError(f'{path}: cannot read SLO spec: {exc}') from exc
        except yaml.YAMLError as exc:
            raise SloError(f'{path}: malformed YAML: {exc}') from exc
        return cls.from_dict(data, source=path)

    from_yaml = load

    def save(self, path: str | os.PathLike) -> None:
        with open(path, 'w', encoding='utf-8') as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False)

    # -- ROS parameters ------------------------------------------------------------------
    def to_ros_params(self, full: bool = False) -> dict[str, object]:
        """Flat ROS parameters (dotted names) of this spec.

        With ``full`` every parameter of :func:`param_descriptors` is included, unset bounds
        as :data:`UNSET` (NaN), absent objectives with weight 0.0, unset rates as 0.0.
        """
        out: dict[str, object] = {}
        if full:
            out.update({p.name: p.default for p in param_descriptors(self.tasks)})
        out['tasks'] = list(self.tasks)
        for c in self.constraints:
            out[c.param] = float(c.value)
        for o in self.objectives:
            out[f'objectives.{o.name}.direction'] = o.direction.value
            out[f'objectives.{o.name}.weight'] = float(o.weight)
        for t, hz in self.rates:
            out[f'rates.{t}'] = float(hz)
        return out

    @classmethod
    def from_ros_params(cls, params: Mapping[str, object]) -> SloSpec:
        """The spec from flat ROS parameters; names outside tasks/slo/objectives/rates are
        ignored (a node has other parameters too). NaN bounds, weight 0 and rate 0 mean unset.
        """
        tasks = params.get('tasks')
        if not isinstance(tasks, (list, tuple)) or not all(isinstance(t, str) for t in tasks):
            raise SloError('ROS params: "tasks" must be a string array')
        bounds: dict[tuple[str, Metric, Bound], float] = {}
        directions: dict[tuple[str, Metric], Direction] = {}
        weights: dict[tuple[str, Metric], float] = {}
        rates: list[tuple[str, float]] = []
        for name, value in sorted(params.items()):
            if name == 'tasks' or name.split('.', 1)[0] not in ('slo', 'objectives', 'rates'):
                continue
            reason = validate_param(name, value, tasks)
            if reason:
                raise SloError(f'ROS params: {name}: {reason}')
            parts = name.split('.')
            if parts[0] == 'slo':
                if not math.isnan(float(value)):
                    bounds[(parts[1], Metric(parts[2]), Bound(parts[3]))] = float(value)
            elif parts[0] == 'objectives':
                key = (parts[1], Metric(parts[2]))
                if parts[3] == 'direction':
                    directions[key] = Direction(str(value))
                else:
                    weights[key] = float(value)
            elif float(value) > 0:
                rates.append((parts[1], float(value)))
        objectives = tuple(Objective(s, m, directions.get((s, m), natural_direction(m)), w)
                           for (s, m), w in weights.items() if w > 0)
        constraints = tuple(Constraint(s, m, b, v) for (s, m, b), v in bounds.items())
        try:
            return cls(tuple(tasks), constraints, objectives, tuple(rates))
        except SloError as exc:
            raise SloError(str(exc).replace('spec:', 'ROS params:', 1)) from exc

    def with_param(self, name: str, value: object) -> SloSpec:
        """This spec with one ROS parameter changed; raises :class:`SloError` when the
        value is invalid or makes the spec inconsistent (e.g. min above max)."""
        params = self.to_ros_params(full=True)
        if name not in params:
            raise SloError(f'ROS params: {name}: not an SLO parameter of tasks '
                           f'{list(self.tasks)}')
        if name == 'tasks':
            raise SloError('ROS params: tasks: the application\'s tasks cannot change at run '
                           'time (re-solve with carin-solve)')
        params[name] = value
        return SloSpec.from_ros_params(params)


# -- ROS parameter descriptors ---------------------------------------------------------------
class ParamType(enum.StrEnum):
    DOUBLE = 'double'
    STRING = 'string'
    STRING_ARRAY = 'string_array'


@dataclass(frozen=True)
class ParamInfo:
    """What a node needs to declare one parameter: type, default, range and description.

    ``min_value``/``max_value`` bound a DOUBLE (None: unbounded on that side); a NaN default
    means "not constrained". ``choices`` lists the values a STRING may take.
    """

    name: str
    type: ParamType
    default: object
    description: str
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False


_UNITS = {Metric.ACCURACY: 'fraction 0..1', Metric.THROUGHPUT: 'frames/s',
          Metric.MEMORY: 'MB', Metric.SIZE: 'MB', Metric.ENERGY: 'mJ per inference'}


def _metric_range(metric: Metric) -> tuple[float, float | None]:
    return (0.0, 1.0) if metric is Metric.ACCURACY else (0.0, None)


def param_descriptors(tasks: Iterable[str]) -> list[ParamInfo]:
    """Every SLO parameter for ``tasks``: all metric x bound and objective fields for each task
    and ``app``, and the input rates."""
    tasks = list(tasks)
    out = [ParamInfo('tasks', ParamType.STRING_ARRAY, tasks,
                     'Tasks of the application (fixed at start-up).', read_only=True)]
    for scope in [*tasks, APP]:
        what = 'whole application' if scope == APP else f'task {scope}'
        for m in Metric:
            unit = _UNITS.get(m, 'ms')
            lo, hi = _metric_range(m)
            for b in Bound:
                side = 'at least' if b is Bound.MIN else 'at most'
                out.append(ParamInfo(
                    f'slo.{scope}.{m.value}.{b.value}', ParamType.DOUBLE, UNSET,
                    f'{m.value} of the {what} must be {side} this ({unit}); NaN = unset.',
                    lo, hi))
        for m in Metric:
            out.append(ParamInfo(
                f'objectives.{scope}.{m.value}.direction', ParamType.STRING,
                natural_direction(m).value, f'Optimise {m.value} of the {what}: max or min.',
                choices=('max', 'min')))
            out.append(ParamInfo(
                f'objectives.{scope}.{m.value}.weight', ParamType.DOUBLE, 0.0,
                f'Weight of the {m.value} objective of the {what}; 0 = not an objective.',
                0.0, None))
    for t in tasks:
        out.append(ParamInfo(f'rates.{t}', ParamType.DOUBLE, 0.0,
                             f'Input rate of task {t} in Hz; 0 = runs back to back.', 0.0, None))
    return out


def validate_param(name: str, value: object, tasks: Iterable[str] | None = None) -> str | None:
    """Why the SLO parameter ``name`` cannot take ``value`` (None when it can).

    Checks the name (scope among ``tasks`` when given), the type and the range of one
    parameter; consistency across parameters (min <= max) is :meth:`SloSpec.with_param`'s.
    """
    parts = name.split('.')
    scopes = None if tasks is None else {*tasks, APP}
    if name == 'tasks':
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(t, str) and _NAME.match(t) and t != APP for t in value):
            return 'must be a list of task names matching [A-Za-z][A-Za-z0-9_]*'
        return None
    if parts[0] == 'rates' and len(parts) == 2:
        if tasks is not None and parts[1] not in set(tasks):
            return f'unknown task {parts[1]!r}'
        return _check_double(value, 0.0, None)
    if parts[0] not in ('slo', 'objectives') or len(parts) != 4:
        return ('not an SLO parameter (slo.<task|app>.<metric>.<min|max>, '
                'objectives.<task|app>.<metric>.<direction|weight>, rates.<task>)')
    scope, metric_name, leaf = parts[1:]
    if scopes is not None and scope not in scopes:
        return f'unknown task {scope!r} (tasks: {sorted(scopes - {APP})}, or app)'
    try:
        metric = Metric(metric_name)
    except ValueError:
        return f'unknown metric {metric_name!r} (one of {[m.value for m in Metric]})'
    if parts[0] == 'slo':
        if leaf not in ('min', 'max'):
            return f'unknown bound {leaf!r} (min or max)'
        if isinstance(value, float) and math.isnan(value):
            return None
        lo, hi = _metric_range(metric)
        return _check_double(value, lo, hi)
    if leaf == 'direction':
        return None if value in ('max', 'min') else f'must be "max" or "min", got {value!r}'
    if leaf == 'weight':
        return _check_double(value, 0.0, None)
    return f'unknown objective field {leaf!r} (direction or weight)'


# -- helpers ---------------------------------------------------------------------------------
def _check_double(value: object, lo: float, hi: float | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f'must be a number, got {value!r}'
    if not math.isfinite(value):
        return f'must be finite, got {value!r}'
    if value < lo or (hi is not None and value > hi):
        return f'must be in [{lo:g}, {"inf" if hi is None else f"{hi:g}"}], got {value!r}'
    return None


def _check_bound(where: str, metric: Metric, value: float) -> None:
    lo, hi = _metric_range(metric)
    reason = _check_double(value, lo, hi)
    if reason:
        raise SloError(f'spec: {where}: {reason}')


def _mapping(value: object, where: str) -> Iterable[tuple[str, object]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise SloError(f'{where}: must be a mapping, got {type(value).__name__}')
    return [(str(k), v) for k, v in value.items()]


def _metric(name: str, where: str) -> Metric:
    try:
        return Metric(name)
    except ValueError:
        raise SloError(f'{where}: unknown metric {name!r} (one of '
                       f'{[m.value for m in Metric]})') from None


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SloError(f'{where}: must be a number, got {value!r}')
    return float(value)


def with_tasks(spec: SloSpec, tasks: Sequence[str]) -> SloSpec:
    """``spec`` restricted to ``tasks`` (constraints/objectives of other tasks dropped)."""
    keep = {*tasks, APP}
    objectives = tuple(o for o in spec.objectives if o.scope in keep)
    return replace(spec, tasks=tuple(tasks),
                   constraints=tuple(c for c in spec.constraints if c.scope in keep),
                   objectives=objectives,
                   rates=tuple((t, hz) for t, hz in spec.rates if t in tasks))

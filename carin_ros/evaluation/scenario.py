"""Contention scenarios: a timeline of phases (hogs, memory pressure, SLO changes). ROS-free."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml


class ScenarioError(ValueError):
    """A malformed scenario file: the message names the file and the field."""


@dataclass(frozen=True)
class HogStart:
    """Start a busy-loop process pinned to ``core``: an int, ``task`` (the core the first
    task runs on when the phase starts) or ``other`` (a core no hog holds yet)."""

    core: int | str


@dataclass(frozen=True)
class StopHogs:
    """End every hog."""


@dataclass(frozen=True)
class MemoryHold:
    """A process allocates and holds ``hold_mb`` MB."""

    hold_mb: float


@dataclass(frozen=True)
class ReleaseMemory:
    """End the memory holder."""


@dataclass(frozen=True)
class SetSlo:
    """Set manager parameters (name, value) pairs."""

    params: tuple[tuple[str, float], ...]


Action = HogStart | StopHogs | MemoryHold | ReleaseMemory | SetSlo


@dataclass(frozen=True)
class Phase:
    """From ``at_s`` seconds on (until the next phase), after running ``actions``."""

    at_s: float
    name: str
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class MemoryLevel:
    """A memory-pressure level entered when available memory falls ``enter_below`` (fraction
    of total) under the available fraction at start, left at ``exit_below``."""

    name: str
    enter_below: float
    exit_below: float


@dataclass(frozen=True)
class Scenario:
    """A use case, its timeline and how the runs are windowed."""

    name: str
    usecase: str
    phases: tuple[Phase, ...]
    duration_s: float
    window_s: float = 1.0
    memory_levels: tuple[MemoryLevel, ...] = ()
    description: str = ''

    def phase_at(self, t: float) -> Phase:
        """The phase running ``t`` seconds into the scenario."""
        current = self.phases[0]
        for p in self.phases:
            if p.at_s <= t:
                current = p
        return current

    def disturbances(self) -> tuple[Phase, ...]:
        """Phases that change something (every phase with actions)."""
        return tuple(p for p in self.phases if p.actions)

    def slo_params_at(self, t: float) -> dict[str, float]:
        """The SLO parameters set by phases started at or before ``t`` (later wins)."""
        out: dict[str, float] = {}
        for p in self.phases:
            if p.at_s > t:
                break
            for a in p.actions:
                if isinstance(a, SetSlo):
                    out.update(a.params)
        return out

    def detection_memory(self, available_fraction: float) -> dict[str, dict[str, float]]:
        """The ``detection.memory.levels`` section for a run starting with this much memory
        available (fraction of total); enter/exit levels clamped to (0.005, 0.995)."""
        def clamp(x: float) -> float:
            return min(0.995, max(0.005, x))
        return {lv.name: {'enter_available': clamp(available_fraction - lv.enter_below),
                          'exit_available': clamp(available_fraction - lv.exit_below)}
                for lv in self.memory_levels}


def _number(value: Any, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise ScenarioError(f'{where}: expected a number, got {value!r}')
    if positive and value <= 0:
        raise ScenarioError(f'{where}: must be > 0, got {value!r}')
    return float(value)


def _action(item: Any, where: str) -> Action:
    if not isinstance(item, Mapping) or len(item) != 1:
        raise ScenarioError(f'{where}: each action is a mapping with one key (hog, stop_hogs, '
                            f'memory, release_memory, slo), got {item!r}')
    (kind, body), = item.items()
    where = f'{where}.{kind}'
    if kind == 'hog':
        if not isinstance(body, Mapping) or set(body) != {'core'}:
            raise ScenarioError(f'{where}: expected {{core: task | other | <int>}}')
        core = body['core']
        if isinstance(core, bool) or not (isinstance(core, int) and core >= 0 or
                                          core in ('task', 'other')):
            raise ScenarioError(f'{where}.core: expected task, other or a core number >= 0, '
                                f'got {core!r}')
        return HogStart(core)
    if kind in ('stop_hogs', 'release_memory'):
        if body is not True:
            raise ScenarioError(f'{where}: expected true')
        return StopHogs() if kind == 'stop_hogs' else ReleaseMemory()
    if kind == 'memory':
        if not isinstance(body, Mapping) or set(body) != {'hold_mb'}:
            raise ScenarioError(f'{where}: expected {{hold_mb: <MB>}}')
        return MemoryHold(_number(body['hold_mb'], f'{where}.hold_mb', positive=True))
    if kind == 'slo':
        if not isinstance(body, Mapping) or not body:
            raise ScenarioError(f'{where}: expected a mapping of manager parameters to values')
        params = []
        for name, value in body.items():
            if not isinstance(name, str) or not name.startswith(('slo.', 'objectives.')):
                raise ScenarioError(f'{where}: {name!r} is not an SLO parameter (slo.* or '
                                    f'objectives.*)')
            params.append((name, _number(value, f'{where}.{name}')))
        return SetSlo(tuple(params))
    raise ScenarioError(f'{where}: unknown action (expected hog, stop_hogs, memory, '
                        f'release_memory, slo)')


def parse(data: Any, source: str = '<dict>', name: str = 'scenario') -> Scenario:
    """A scenario from its YAML mapping; :class:`ScenarioError` names the field at fault."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f'{source}: top level must be a mapping')
    known = {'description', 'usecase', 'window_s', 'duration_s', 'memory_levels', 'phases'}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f'{source}: unknown keys {sorted(unknown)} (expected '
                            f'{sorted(known)})')
    usecase = data.get('usecase')
    if not isinstance(usecase, str) or not usecase:
        raise ScenarioError(f'{source}: usecase: expected a use case name (config/usecases)')
    window = _number(data.get('window_s', 1.0), f'{source}: window_s', positive=True)
    duration = _number(data.get('duration_s'), f'{source}: duration_s', positive=True)
    raw = data.get('phases')
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f'{source}: phases: expected a non-empty list')
    phases: list[Phase] = []
    for i, item in enumerate(raw):
        where = f'{source}: phases[{i}]'
        if not isinstance(item, Mapping):
            raise ScenarioError(f'{where}: expected a mapping with at_s, name, actions')
        extra = set(item) - {'at_s', 'name', 'actions'}
        if extra:
            raise ScenarioError(f'{where}: unknown keys {sorted(extra)}')
        at = _number(item.get('at_s'), f'{where}.at_s')
        if at < 0 or at >= duration:
            raise ScenarioError(f'{where}.at_s: must be in [0, duration_s={duration:g}), '
                                f'got {at:g}')
        if phases and at <= phases[-1].at_s:
            raise ScenarioError(f'{where}.at_s: phases must start in increasing order '
                                f'({at:g} after {phases[-1].at_s:g})')
        if i == 0 and at != 0:
            raise ScenarioError(f'{where}.at_s: the first phase must start at 0')
        pname = item.get('name')
        if not isinstance(pname, str) or not pname:
            raise ScenarioError(f'{where}.name: expected a name')
        actions = item.get('actions', [])
        if not isinstance(actions, list):
            raise ScenarioError(f'{where}.actions: expected a list')
        phases.append(Phase(at, pname, tuple(_action(a, f'{where}.actions[{j}]')
                                             for j, a in enumerate(actions))))
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ScenarioError(f'{source}: phases: names must be unique, got {names}')
    levels = []
    for lname, body in (data.get('memory_levels') or {}).items():
        where = f'{source}: memory_levels.{lname}'
        if not isinstance(body, Mapping) or set(body) != {'enter_below', 'exit_below'}:
            raise ScenarioError(f'{where}: expected {{enter_below, exit_below}}')
        enter = _number(body['enter_below'], f'{where}.enter_below', positive=True)
        leave = _number(body['exit_below'], f'{where}.exit_below')
        if not 0 <= leave < enter < 1:
            raise ScenarioError(f'{where}: need 0 <= exit_below < enter_below < 1')
        levels.append(MemoryLevel(str(lname), enter, leave))
    return Scenario(name, usecase, tuple(phases), duration, window, tuple(levels),
                    str(data.get('description', '')))


def load(path: str | os.PathLike) -> Scenario:
    """Read a scenario YAML file."""
    path = os.fspath(path)
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ScenarioError(f'{path}: cannot read scenario: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f'{path}: malformed YAML: {exc}') from exc
    return parse(data, path, os.path.splitext(os.path.basename(path))[0])

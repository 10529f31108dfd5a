"""The demo graph (config/demo.yaml): nodes, parameters, remappings, the hog plan. ROS-free.

Both ``launch/demo.launch.py`` and ``python -m carin_ros.demo`` read the graph from here, so
the two cannot drift apart. String values ``share:<relative path>`` are resolved against the
source checkout or the installed ``share/carin_ros`` and must exist.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from carin_ros.nodes.paths import project_file

# executable (console script) -> module under carin_ros.nodes
EXECUTABLES = {'task_node': 'task_node', 'resource_monitor': 'resource_monitor',
               'carin_manager': 'manager', 'camera_sim': 'camera_sim', 'text_sim': 'text_sim'}
SHARE_PREFIX = 'share:'


class DemoConfigError(ValueError):
    """A demo graph file that cannot be used: names the file and the field."""


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph."""

    name: str
    executable: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()

    @property
    def module(self) -> str:
        return f'carin_ros.nodes.{EXECUTABLES[self.executable]}'

    def topic(self, name: str) -> str:
        """The absolute topic a relative topic ``name`` of this node ends up on (no namespace)."""
        for src, dst in self.remappings:
            if src == name:
                return dst if dst.startswith('/') else f'/{dst}'
        return name if name.startswith('/') else f'/{name}'


@dataclass(frozen=True)
class HogPlan:
    """When the demo starts a CPU hog, for how long, and whose core it takes."""

    start_s: float
    duration_s: float
    task: str


@dataclass(frozen=True)
class DemoConfig:
    """The whole graph plus demo timing."""

    source: str
    duration_s: float
    nodes: tuple[NodeSpec, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    hog: HogPlan | None = None

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f'{self.source}: no node {name!r}')

    def by_executable(self, executable: str) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.executable == executable)

    def task_nodes(self) -> dict[str, NodeSpec]:
        """task name -> its task_node."""
        return {str(n.parameters['task']): n for n in self.by_executable('task_node')}

    def with_slo(self, slo_file: str) -> DemoConfig:
        """The graph with every manager's ``slo_file`` set to ``slo_file`` (resolved)."""
        path = resolve_path(slo_file, self.source, 'slo')
        nodes = tuple(replace(n, parameters={**n.parameters, 'slo_file': path})
                      if n.executable == 'carin_manager' else n for n in self.nodes)
        return replace(self, nodes=nodes)


def resolve_path(value: str, source: str, where: str) -> str:
    """``share:rel`` or a plain path -> an existing absolute path (DemoConfigError if none)."""
    rel = value[len(SHARE_PREFIX):] if value.startswith(SHARE_PREFIX) else value
    path = project_file(rel)
    if not path and os.path.exists(rel):
        path = os.path.abspath(rel)
    if not path:
        raise DemoConfigError(f'{source}: {where}: {value!r} not found in the checkout or the '
                              f'installed share/carin_ros')
    return path


def _resolve(value: Any, source: str, where: str) -> Any:
    if isinstance(value, str) and value.startswith(SHARE_PREFIX):
        return resolve_path(value, source, where)
    if isinstance(value, list):
        return [_resolve(v, source, f'{where}[{i}]') for i, v in enumerate(value)]
    return value


def _number(data: Mapping, key: str, source: str, where: str, default: float | None = None,
            minimum: float = 0.0) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise DemoConfigError(f'{source}: {where}{key} must be a number >= {minimum}, '
                              f'got {value!r}')
    return float(value)


def parse(data: Any, source: str = '<dict>') -> DemoConfig:
    if not isinstance(data, Mapping):
        raise DemoConfigError(f'{source}: top level must be a mapping')
    unknown = set(data) - {'duration_s', 'nodes', 'environment', 'hog'}
    if unknown:
        raise DemoConfigError(f'{source}: unknown keys {sorted(unknown)}')
    duration = _number(data, 'duration_s', source, '', 60.0, minimum=1.0)
    env_raw = data.get('environment') or {}
    if not isinstance(env_raw, Mapping):
        raise DemoConfigError(f'{source}: environment must be a mapping')
    env = {str(k): str(_resolve(v, source, f'environment.{k}')) for k, v in env_raw.items()}
    items = data.get('nodes')
    if not isinstance(items, list) or not items:
        raise DemoConfigError(f'{source}: nodes must be a non-empty list')
    nodes = []
    for i, item in enumerate(items):
        where = f'nodes[{i}]'
        if not isinstance(item, Mapping):
            raise DemoConfigError(f'{source}: {where} must be a mapping')
        bad = set(item) - {'name', 'executable', 'parameters', 'remappings'}
        if bad:
            raise DemoConfigError(f'{source}: {where}: unknown keys {sorted(bad)}')
        name, exe = item.get('name'), item.get('executable')
        if not isinstance(name, str) or not name.isidentifier():
            raise DemoConfigError(f'{source}: {where}.name must be a node name, got {name!r}')
        if not isinstance(exe, str) or exe not in EXECUTABLES:
            raise DemoConfigError(f'{source}: {where}.executable {exe!r} is not one of '
                                  f'{sorted(EXECUTABLES)}')
        params = item.get('parameters') or {}
        remaps = item.get('remappings') or {}
        if not isinstance(params, Mapping) or not isinstance(remaps, Mapping):
            raise DemoConfigError(f'{source}: {where}: parameters and remappings must be '
                                  f'mappings')
        params = {str(k): _resolve(v, source, f'{where}.parameters.{k}')
                  for k, v in params.items()}
        if exe == 'task_node' and not isinstance(params.get('task'), str):
            raise DemoConfigError(f'{source}: {where}.parameters.task is required for a '
                                  f'task_node')
        nodes.append(NodeSpec(name, exe, params,
                              tuple((str(k), str(v)) for k, v in remaps.items())))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise DemoConfigError(f'{source}: node names repeat: {names}')
    hog = None
    if data.get('hog') is not None:
        h = data['hog']
        if not isinstance(h, Mapping) or not isinstance(h.get('task'), str):
            raise DemoConfigError(f'{source}: hog needs start_s, duration_s and task')
        hog = HogPlan(_number(h, 'start_s', source, 'hog.'),
                      _number(h, 'duration_s', source, 'hog.', 0.0), h['task'])
        tasks = {str(n.parameters['task']) for n in nodes if n.executable == 'task_node'}
        if hog.task not in tasks:
            raise DemoConfigError(f'{source}: hog.task {hog.task!r} is not a task of the graph '
                                  f'({sorted(tasks)})')
    return DemoConfig(source, duration, tuple(nodes), env, hog)


def load(path: str) -> DemoConfig:
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise DemoConfigError(f'{path}: cannot read demo config: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise DemoConfigError(f'{path}: malformed YAML: {exc}') from exc
    return parse(data, source=path)

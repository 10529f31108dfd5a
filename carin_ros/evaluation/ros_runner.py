"""Plays a scenario through the real ROS graph (separate node processes) for one strategy."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace

import psutil
import yaml

from carin_ros.demo.config import DemoConfig
from carin_ros.demo.config import load as load_demo
from carin_ros.evaluation.scenario import (
    HogStart,
    MemoryHold,
    ReleaseMemory,
    Scenario,
    SetSlo,
    StopHogs,
)
from carin_ros.evaluation.strategies import Strategy
from carin_ros.evaluation.windows import ResultRecord, SwitchRecord

FIRST_RESULT_TIMEOUT_S = 120.0
SETTLE_S = 30.0
# The memory holder: numpy.ones commits every page (calloc'd zeros would not).
HOLD_MEMORY = ('import sys, time, numpy; a = numpy.ones(int(float(sys.argv[1]) * 1e6), '
               'dtype=numpy.uint8); print("held", flush=True); time.sleep(1e6)')


@dataclass(frozen=True)
class LoadSample:
    """Device load seen by the runner, ``t`` seconds from the start."""

    t: float
    core_pct: tuple[float, ...]
    memory_available_frac: float


@dataclass(frozen=True)
class Decision:
    """A design decision the manager published (``carin/active_designs``)."""

    t: float
    designs: tuple[tuple[str, str], ...]
    events: tuple[str, ...]
    decision_ms: float
    reason: str
    decision_cpu_ms: float = math.nan  # the manager thread's CPU time for the decision


@dataclass(frozen=True)
class RunRecord:
    """Everything one run saw; times in seconds from the first result."""

    strategy: Strategy
    repeat: int
    results: tuple[ResultRecord, ...]
    switches: tuple[SwitchRecord, ...]
    decisions: tuple[Decision, ...]
    load: tuple[LoadSample, ...]
    phase_starts: tuple[tuple[str, float], ...]
    dropped: int


def scenario_graph(demo: DemoConfig, tasks: tuple[str, ...], manager_params: dict
                   ) -> DemoConfig:
    """The demo graph cut to ``tasks``' task nodes and the simulators feeding them, the
    monitor and the manager (with ``manager_params``; task nodes get its ``profile_db``),
    without the demo's own hog."""
    task_nodes = {t: n for t, n in demo.task_nodes().items() if t in tasks}
    missing = set(tasks) - set(task_nodes)
    if missing:
        raise ValueError(f'{demo.source}: no task_node for {sorted(missing)}')
    inputs = {dst for n in task_nodes.values() for src, dst in n.remappings
              if src in ('image', 'text')}
    nodes = []
    for n in demo.nodes:
        if n.executable == 'task_node' and n.name not in {x.name for x in task_nodes.values()}:
            continue
        if n.executable in ('camera_sim', 'text_sim') and not any(
                dst in inputs for _, dst in n.remappings):
            continue
        if n.executable == 'carin_manager':
            n = replace(n, parameters={**n.parameters, **manager_params})
        elif n.executable == 'task_node' and manager_params.get('profile_db'):
            n = replace(n, parameters={**n.parameters,
                                       'profile_db': manager_params['profile_db']})
        nodes.append(n)
    return replace(demo, nodes=tuple(nodes), hog=None)


def events_file(base: str, scenario: Scenario, out: str) -> str:
    """``base`` (config/events.yaml) with memory levels relative to memory available now."""
    with open(base, encoding='utf-8') as f:
        data = yaml.safe_load(f)
    vm = psutil.virtual_memory()
    if scenario.memory_levels:
        memory = data.setdefault('detection', {}).setdefault('memory', {})
        memory['levels'] = scenario.detection_memory(vm.available / vm.total)
    with open(out, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return out


def run_scenario(scenario: Scenario, strategy: Strategy, repeat: int, slo_file: str,
                 profile_db: str, events_base: str, work_dir: str,
                 demo_config: str = 'config/demo.yaml') -> RunRecord:
    """One run: start the graph, wait for the first result, play the phases, stop all."""
    from carin_ros.core.slo import SloSpec
    from carin_ros.demo.graph import GraphProcesses, graph_env
    from carin_ros.monitor.hog import start_hog

    os.makedirs(work_dir, exist_ok=True)
    spec = SloSpec.load(slo_file)
    events = events_file(events_base, scenario, os.path.join(work_dir, 'events.yaml'))
    config = scenario_graph(load_demo(demo_config), spec.tasks, {
        'profile_db': profile_db, 'slo_file': slo_file, 'events_file': events,
        'strategy': strategy.value})
    env = graph_env(config)
    os.environ.update(env)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from std_msgs.msg import String

    from carin_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS

    task_nodes = config.task_nodes()
    results: list[ResultRecord] = []
    switches: list[SwitchRecord] = []
    decisions: list[Decision] = []  # stamped with time.time() until the end
    load: list[LoadSample] = []
    dropped = [0]
    t_zero = [0.0]

    def rel() -> float:
        return time.time() - t_zero[0]

    def on_result(task: str, text: str) -> None:
        try:
            d = json.loads(text)
            results.append(ResultRecord(rel(), task, str(d['design']), float(d['latency_ms'])))
        except (ValueError, KeyError, TypeError):
            dropped[0] += 1

    def on_switch(text: str) -> None:
        try:
            d = json.loads(text)
            if d.get('kind') == 'switch_requested':
                switches.append(SwitchRecord(float(d['stamp']) - t_zero[0], str(d['task']),
                                             str(d['design'])))
        except (ValueError, KeyError, TypeError):
            dropped[0] += 1

    def on_active(text: str) -> None:
        try:
            d = json.loads(text)
            decisions.append(Decision(time.time(), tuple(sorted(d['designs'].items())),
                                      tuple(d.get('events', ())), float(d['decision_ms']),
                                      str(d.get('reason', '')),
                                      float(d.get('decision_cpu_ms', math.nan))))
        except (ValueError, KeyError, TypeError, AttributeError):
            dropped[0] += 1

    graph = GraphProcesses(config, env, os.path.join(work_dir, 'logs'))
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('carin_scenario_runner', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    for task, spec_node in task_nodes.items():
        node.create_subscription(String, spec_node.topic('results'),
                                 lambda m, t=task: on_result(t, m.data), RELIABLE_QOS)
    node.create_subscription(String, '/carin/switch_log', lambda m: on_switch(m.data),
                             RELIABLE_QOS)
    node.create_subscription(String, '/carin/active_designs', lambda m: on_active(m.data),
                             LATCHED_QOS)
    params = AsyncParameterClient(node, 'carin_manager')
    hogs: list[subprocess.Popen] = []
    holder: list[subprocess.Popen] = []
    starts: list[tuple[str, float]] = []
    hogged: set[int] = set()
    n_cores = psutil.cpu_count() or 1

    def task_core() -> int:
        first = spec.tasks[0]
        mine = [r for r in results if r.task == first]
        processor = mine[-1].design.partition('@')[2] if mine else ''
        from carin_ros.core.profiles import ProfileDB
        for p in ProfileDB.load(profile_db).processors:
            if p.name == processor and p.is_cpu and p.cores:
                return p.cores[0]
        return 0

    def act(action: object) -> None:
        if isinstance(action, HogStart):
            if action.core == 'task':
                core = task_core()
            elif action.core == 'other':
                free = [c for c in range(n_cores) if c not in hogged]
                core = free[0] if free else 0
            else:
                core = int(action.core) % n_cores
            hogged.add(core)
            hogs.append(start_hog(core))
        elif isinstance(action, StopHogs):
            for h in hogs:
                h.kill()
                h.wait()
            hogs.clear()
            hogged.clear()
        elif isinstance(action, MemoryHold):
            holder.append(subprocess.Popen([sys.executable, '-c', HOLD_MEMORY,
                                            str(action.hold_mb)], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL))
        elif isinstance(action, ReleaseMemory):
            for h in holder:
                h.kill()
                h.wait()
            holder.clear()
        elif isinstance(action, SetSlo):
            params.set_parameters([Parameter(k, value=v) for k, v in action.params])

    try:
        graph.start()
        start = time.monotonic()
        while not results:
            executor.spin_once(timeout_sec=0.05)
            if graph.dead():
                dead = graph.dead()[0]
                raise RuntimeError(f'node {dead.name} exited ({dead.popen.returncode}):\n'
                                   f'{dead.log_tail()}')
            if time.monotonic() - start > FIRST_RESULT_TIMEOUT_S:
                raise RuntimeError(f'no result within {FIRST_RESULT_TIMEOUT_S:.0f} s; logs in '
                                   f'{work_dir}/logs')
        # The node may serve its own default design first: start once the manager's
        # start-up design serves (or after SETTLE_S), so every strategy starts alike.
        settle = time.monotonic() + SETTLE_S
        while time.monotonic() < settle:
            executor.spin_once(timeout_sec=0.05)
            if decisions and results and dict(decisions[-1].designs).get(
                    results[-1].task) == results[-1].design:
                break
        t_zero[0] = time.time()
        results.clear()
        switches.clear()
        psutil.cpu_percent(percpu=True)
        pending = list(scenario.phases)
        next_load = 0.0
        while rel() < scenario.duration_s:
            executor.spin_once(timeout_sec=0.02)
            now = rel()
            while pending and pending[0].at_s <= now:
                phase = pending.pop(0)
                for a in phase.actions:
                    act(a)
                starts.append((phase.name, rel()))
            if now >= next_load:
                next_load = now + 0.5
                vm = psutil.virtual_memory()
                load.append(LoadSample(now, tuple(psutil.cpu_percent(percpu=True)),
                                       vm.available / vm.total))
            if graph.dead():
                dead = graph.dead()[0]
                raise RuntimeError(f'node {dead.name} exited ({dead.popen.returncode}):\n'
                                   f'{dead.log_tail()}')
    finally:
        for p in hogs + holder:
            p.kill()
            p.wait()
        graph.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    # Decisions are stamped on arrival (start-up ones before the first result: t < 0).
    decisions = [replace(d, t=d.t - t_zero[0]) for d in decisions]
    return RunRecord(strategy, repeat, tuple(results), tuple(switches), tuple(decisions),
                     tuple(load), tuple(starts), dropped[0])


def warm_memory(hold_mb: float) -> None:
    """Allocate and free ``hold_mb`` once: first-touch page faults in a VM are several times
    slower than later ones, and would otherwise delay the first run's memory phase."""
    proc = subprocess.Popen([sys.executable, '-c', HOLD_MEMORY, str(hold_mb)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()

"""Test harness: carin_ros nodes in separate processes, the test process as an rclpy node.

Every test session gets its own ``ROS_DOMAIN_ID`` (from the pid, 1..100) and keeps discovery
on localhost; nodes run as ``python -m carin_ros.nodes.<module> --ros-args ...`` with a
parameters file, their output goes to a log file shown when a wait fails, and every process is
killed at teardown even when the test failed. Time bounds are generous for a loaded 2-core box.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from carin_ros.demo.graph import NodeProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def session_domain_id() -> int:
    """A domain for this test session: 1..100 (valid with the default port mapping; not 0)."""
    return os.getpid() % 100 + 1


def ros_env(domain_id: int) -> dict[str, str]:
    """The environment variables every process of a test graph shares."""
    return {'ROS_DOMAIN_ID': str(domain_id), 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
            'FASTDDS_DEFAULT_PROFILES_FILE': os.path.join(ROOT, 'config', 'fastdds.xml'),
            'PYTHONUNBUFFERED': '1', 'RCUTILS_COLORIZED_OUTPUT': '0'}


def task_status(box: list, task: str) -> dict[str, str]:
    """The newest ``carin_ros: task <task>`` values in collected /diagnostics messages."""
    for _, msg in reversed(box):
        for s in msg.status:
            if s.name == f'carin_ros: task {task}':
                return {kv.key: kv.value for kv in s.values}
    return {}


@dataclass
class Graph:
    """Node processes of one test; :meth:`close` kills them all (call it in a finally)."""

    domain_id: int
    workdir: str
    procs: list[NodeProcess] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self, module: str, name: str | None = None,
              params: Mapping[str, Any] | None = None,
              remap: Mapping[str, str] | None = None,
              executable: str | None = None) -> NodeProcess:
        """Start ``python -m carin_ros.nodes.<module>``, or the console script ``executable``
        (as installed next to the interpreter) when given."""
        name = name or module
        param_file = os.path.join(self.workdir, f'{name}.params.yaml')
        with open(param_file, 'w', encoding='utf-8') as f:
            yaml.safe_dump({'/**': {'ros__parameters': dict(params or {})}}, f)
        launcher = ([os.path.join(os.path.dirname(sys.executable), executable)] if executable
                    else [sys.executable, '-m', f'carin_ros.nodes.{module}'])
        cmd = [*launcher, '--ros-args', '-r', f'__node:={name}', '--params-file', param_file]
        for src, dst in (remap or {}).items():
            cmd += ['-r', f'{src}:={dst}']
        env = {**os.environ, **ros_env(self.domain_id), 'CARIN_ROLE': name, **self.extra_env}
        log_path = os.path.join(self.workdir, f'{name}.log')
        log = open(log_path, 'w', encoding='utf-8')  # noqa: SIM115 (closed by the child)
        popen = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        log.close()
        proc = NodeProcess(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return '\n'.join(f'--- {p.name} (exit {p.popen.poll()}) ---\n{p.log_tail()}'
                         for p in self.procs)

    def close(self) -> None:
        for p in self.procs:
            if p.alive:
                p.popen.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5.0
        for p in self.procs:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(timeout=10)


class Probe:
    """The test process's own rclpy node: subscribe, set parameters, call services, wait."""

    def __init__(self, node, executor) -> None:
        self.node = node
        self.executor = executor
        self.graph: Graph | None = None

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Spin until ``predicate()`` holds; fail with the node logs after ``timeout``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            self.executor.spin_once(timeout_sec=0.05)
            if self.graph is not None:
                dead = [p for p in self.graph.procs if not p.alive]
                if dead:
                    raise AssertionError(f'while waiting for {what}: {dead[0].name} exited\n'
                                         f'{self.graph.logs()}')
        if predicate():
            return
        logs = self.graph.logs() if self.graph is not None else ''
        raise AssertionError(f'timed out after {timeout:g} s waiting for {what}\n{logs}')

    def collect(self, msg_type, topic: str, qos) -> list:
        """Subscribe; received messages (with their receive time) accumulate in the list."""
        box: list = []
        self.node.create_subscription(msg_type, topic,
                                      lambda m: box.append((time.monotonic(), m)), qos)
        return box

    def future(self, fut, timeout: float, what: str):
        self.wait_for(fut.done, timeout, what)
        return fut.result()

    def set_parameters(self, node_name: str, values: Mapping[str, Any], timeout: float = 20.0):
        """Set parameters on another node; returns the list of SetParametersResult."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter
        request = SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
        resp = self.call(SetParameters, f'/{node_name}/set_parameters', request, timeout,
                         what=f'set {list(values)} on {node_name}')
        return list(resp.results)

    def get_parameters(self, node_name: str, names: list[str], timeout: float = 20.0) -> list:
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python
        resp = self.call(GetParameters, f'/{node_name}/get_parameters',
                         GetParameters.Request(names=names), timeout,
                         what=f'get {names} of {node_name}')
        return [parameter_value_to_python(v) for v in resp.values]

    def call(self, srv_type, name: str, request, timeout: float = 20.0, what: str = '',
             attempt_s: float = 5.0):
        """Call a service; an unanswered request is sent again (on a new client) every
        ``attempt_s`` until ``timeout``. Every request here is idempotent. A node killed with
        SIGKILL and restarted under the same name leaves its old endpoints in discovery for a
        while: a client may count the service as ready and send to the dead server only."""
        what = what or f'reply of {name}'
        end = time.monotonic() + timeout
        while True:
            client = self.node.create_client(srv_type, name)
            try:
                left = end - time.monotonic()
                self.wait_for(client.service_is_ready, max(left, 0.1), f'service {name}')
                fut = client.call_async(request)
                attempt_end = min(end, time.monotonic() + attempt_s)
                self.wait_for(lambda f=fut, e=attempt_end: f.done() or time.monotonic() >= e,
                              attempt_s + 1.0, what)
                if fut.done():
                    return fut.result()
                if time.monotonic() >= end:
                    self.wait_for(fut.done, 0.0, what)  # fails with the node logs
            finally:
                self.node.destroy_client(client)

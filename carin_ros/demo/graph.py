"""Start the nodes of a demo graph as child processes, with the launch file's parameters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from carin_ros.demo.config import DemoConfig, NodeSpec
from carin_ros.monitor.sampler import ROLE_ENV


def graph_env(config: DemoConfig, domain_id: int | None = None) -> dict[str, str]:
    """The ROS environment every process of the graph shares (and the viewer needs)."""
    domain = domain_id if domain_id is not None else int(
        os.environ.get('ROS_DOMAIN_ID') or os.getpid() % 100 + 1)
    return {'ROS_DOMAIN_ID': str(domain),
            'ROS_AUTOMATIC_DISCOVERY_RANGE': os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE',
                                                            'LOCALHOST'),
            'PYTHONUNBUFFERED': '1', 'RCUTILS_COLORIZED_OUTPUT': '0', **config.environment}


@dataclass
class NodeProcess:
    """One node running in its own process, its output in ``log_path``."""

    name: str
    popen: subprocess.Popen
    log_path: str

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return '<no log>'

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGINT (clean shutdown), then SIGKILL after ``grace_s``; returns the exit code."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGINT)
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


def node_command(spec: NodeSpec, params_file: str) -> list[str]:
    cmd = [sys.executable, '-m', spec.module, '--ros-args', '-r', f'__node:={spec.name}',
           '--params-file', params_file]
    for src, dst in spec.remappings:
        cmd += ['-r', f'{src}:={dst}']
    return cmd


def write_params(spec: NodeSpec, path: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        yaml.safe_dump({f'/{spec.name}': {'ros__parameters': dict(spec.parameters)}}, f)


class GraphProcesses:
    """Starts every node of a config; :meth:`stop` ends them all (SIGINT, then SIGKILL)."""

    def __init__(self, config: DemoConfig, env: Mapping[str, str], log_dir: str) -> None:
        self.config = config
        self.env = dict(env)
        self.log_dir = log_dir
        self.children: list[NodeProcess] = []

    def start(self) -> None:
        os.makedirs(self.log_dir, exist_ok=True)
        for spec in self.config.nodes:
            params = os.path.join(self.log_dir, f'{spec.name}.params.yaml')
            write_params(spec, params)
            log_path = os.path.join(self.log_dir, f'{spec.name}.log')
            with open(log_path, 'w', encoding='utf-8') as log:
                popen = subprocess.Popen(
                    node_command(spec, params), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, **self.env, ROLE_ENV: spec.name})
            self.children.append(NodeProcess(spec.name, popen, log_path))

    def dead(self) -> list[NodeProcess]:
        return [c for c in self.children if not c.alive]

    def stop(self, grace_s: float = 5.0) -> None:
        for c in self.children:
            if c.alive:
                c.popen.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for c in self.children:
            try:
                c.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.popen.kill()
                c.popen.wait(timeout=10)

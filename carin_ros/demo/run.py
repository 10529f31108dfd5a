"""``make demo`` without a ROS install: the demo graph as processes, a live table, a CPU hog.

Starts the nodes of config/demo.yaml (the same graph and parameters as
``launch/demo.launch.py``) for ``duration_s``, prints a table of design, latency, throughput
and SLO status per task, starts a CPU hog pinned to the core the hogged task runs on at
``hog.start_s`` (so the manager moves the task and the SLO recovers), and ends with a summary
(switches, reaction time, result gaps). Every child is stopped at the end, also on Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence

from carin_ros.demo.config import DemoConfig, DemoConfigError, load
from carin_ros.demo.graph import GraphProcesses, graph_env
from carin_ros.demo.record import DemoSummary, Recorder


def hog_core(processor: str, config: DemoConfig) -> int:
    """The core to hog for a task on ``processor``: its first pinned core (0 if unpinned).

    The processor is looked up in the manager's profile database, else among this host's
    discovered processors.
    """
    from carin_ros.core.profiles import ProfileDB
    from carin_ros.engine.processors import discover
    from carin_ros.nodes.manager import default_profile_db
    managers = config.by_executable('carin_manager')
    path = str(managers[0].parameters.get('profile_db', '')) if managers else ''
    try:
        procs = ProfileDB.load(path or default_profile_db()).processors
    except (OSError, ValueError):
        procs = discover()
    for p in procs:
        if p.name == processor and p.is_cpu and p.cores:
            return p.cores[0]
    return 0


def _table(rows: list[list], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = '  '.join(f'{{:<{w}}}' for w in widths)
    return '\n'.join(fmt.format(*map(str, r)) for r in [header, *rows])


def run_demo(config: DemoConfig, log_dir: str, show: bool = True,
             out=sys.stdout) -> DemoSummary:
    """Run the graph for ``config.duration_s``; returns what was seen. Children always end."""
    env = graph_env(config)
    os.environ.update(env)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    from carin_ros.monitor.hog import start_hog
    from carin_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS

    task_nodes = config.task_nodes()
    rec = Recorder(tuple(task_nodes))
    graph = GraphProcesses(config, env, log_dir)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('carin_demo_viewer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    for task, spec in task_nodes.items():
        node.create_subscription(String, spec.topic('results'),
                                 lambda m, t=task: rec.on_result(t, m.data, time.time()),
                                 RELIABLE_QOS)
    node.create_subscription(String, '/carin/switch_log', lambda m: rec.on_switch(m.data),
                             RELIABLE_QOS)
    node.create_subscription(String, '/carin/slo_status', lambda m: rec.on_status(m.data),
                             LATCHED_QOS)
    node.create_subscription(String, '/carin/active_designs', lambda m: rec.on_active(m.data),
                             LATCHED_QOS)
    node.create_subscription(String, '/carin/events', lambda m: rec.on_events(m.data),
                             LATCHED_QOS)
    hog = None
    tty = show and out.isatty()
    print(f'carin_ros demo: {len(config.nodes)} nodes, {config.duration_s:g} s, '
          f'ROS_DOMAIN_ID={env["ROS_DOMAIN_ID"]}, logs in {log_dir}', file=out, flush=True)
    try:
        graph.start()
        start = time.monotonic()
        first_result: float | None = None
        next_print = start + 1.0
        hog_at = hog_until = None
        while True:
            executor.spin_once(timeout_sec=0.05)
            now_m = time.monotonic()
            dead = graph.dead()
            if dead:
                raise RuntimeError(f'node {dead[0].name} exited '
                                   f'({dead[0].popen.returncode}):\n{dead[0].log_tail()}')
            if first_result is None and any(rec.results.values()):
                first_result = now_m
                if config.hog is not None:
                    hog_at = first_result + config.hog.start_s
            if first_result is None and now_m - start > 120:
                raise RuntimeError('no result within 120 s of start; see the logs in '
                                   f'{log_dir}')
            if hog_at is not None and hog is None and now_m >= hog_at and config.hog:
                seen = rec.results.get(config.hog.task, [])
                processor = seen[-1].processor if seen else ''
                core = hog_core(processor, config)
                hog = start_hog(core, config.hog.duration_s)
                rec.hog_start, rec.hog_task = time.time(), config.hog.task
                rec.hog_core, rec.hog_processor = core, processor
                if config.hog.duration_s > 0:
                    hog_until = now_m + config.hog.duration_s
                print(f'>>> CPU hog started on core {core} ({config.hog.task} runs on '
                      f'{processor})', file=out, flush=True)
            if hog is not None and hog_until is not None and now_m >= hog_until and \
                    rec.hog_end is None:
                hog.kill()
                hog.wait()
                rec.hog_end = time.time()
                print('>>> CPU hog ended', file=out, flush=True)
            if show and now_m >= next_print:
                next_print = now_m + 1.0
                rows = [rec.row(t, time.time()) for t in task_nodes]
                text = _table(rows, ['task', 'design', 'p90 ms', 'fps', 'SLO met'])
                events = ', '.join(rec.events) or 'none'
                head = f't={now_m - start:5.1f} s  events: {events}'
                print(('\x1b[H\x1b[J' if tty else '') + head + '\n' + text + '\n',
                      file=out, flush=True)
            if first_result is not None and now_m - first_result >= config.duration_s:
                break
    finally:
        if hog is not None and hog.poll() is None:
            hog.kill()
            hog.wait()
            rec.hog_end = rec.hog_end or time.time()
        graph.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    return rec.summary()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='config/demo.yaml')
    parser.add_argument('--slo', default='', help='SLO preset (config/slo/*.yaml) for the '
                                                  'manager, instead of the config\'s')
    parser.add_argument('--duration', type=float, default=None, help='seconds (after the '
                                                                     'first result)')
    parser.add_argument('--no-hog', action='store_true', help='do not start the CPU hog')
    parser.add_argument('--log-dir', default='', help='node logs (default: a temp dir)')
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
        if args.slo:
            config = config.with_slo(args.slo)
    except DemoConfigError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    from dataclasses import replace
    if args.duration is not None:
        config = replace(config, duration_s=args.duration)
    if args.no_hog:
        config = replace(config, hog=None)
    log_dir = args.log_dir or tempfile.mkdtemp(prefix='carin_demo_')
    try:
        summary = run_demo(config, log_dir)
    except KeyboardInterrupt:
        print('interrupted; all nodes stopped', file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print('\n== summary ==')
    for line in summary.lines():
        print(line)
    return 0

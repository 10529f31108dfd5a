"""Long run: the demo graph at 30 Hz for minutes with a forced design switch every 30 s.

Measures, per node process, RSS growth after warm-up, thread and file-descriptor counts, and
checks that every input a task node received is accounted for as a result or a counted drop
(``received == served + dropped.*``, read from the nodes' /diagnostics after the inputs stop).
The manager is left out so the switches are deterministic: the bench itself sets the image
task's ``design`` parameter every ``--switch-s`` seconds, alternating two variants on two
processors (each switch builds and warms a new ONNX Runtime session while the old one serves).

Run alone: ``python -m bench.longrun`` (10 minutes plus ~1 minute start/stop), or
``--minutes 2`` for a short run; writes the ``longrun`` section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import psutil

from bench.report import markdown_table, write_section
from carin_ros.demo.config import DemoConfig, load
from carin_ros.demo.graph import GraphProcesses, graph_env

IMAGE_TASK = 'image_classification'
SWITCH_DESIGNS = ('efficientnet_lite0_int8@cpu0', 'efficientnet_lite1_int8@cpu1')
INITIAL = {IMAGE_TASK: SWITCH_DESIGNS[0], 'face_analysis': 'mtcnn_agegender_int8@cpu1',
           'text_classification': 'minilm_l1_int8_dynamic@cpu0'}
COUNTERS = ('stale', 'bad_input', 'failed', 'busy')


@dataclass
class ProcSeries:
    """Samples of one node process: (seconds since start, rss bytes, threads, fds)."""

    name: str
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)

    def window(self, t0: float, t1: float) -> list[tuple[float, int, int, int]]:
        return [s for s in self.samples if t0 <= s[0] < t1]


def longrun_config(path: str, rate_hz: float) -> DemoConfig:
    """The demo graph without the manager and hog, small designs pinned, camera at rate."""
    config = load(path)
    nodes = []
    for n in config.nodes:
        if n.executable == 'carin_manager':
            continue
        params = dict(n.parameters)
        if n.executable == 'task_node':
            params['design'] = INITIAL[str(params['task'])]
            params['health_period_s'] = 1.0
        if n.executable == 'camera_sim':
            params['rate_hz'] = rate_hz
        nodes.append(replace(n, parameters=params))
    return replace(config, nodes=tuple(nodes), hog=None)


def _status_values(msg) -> dict[str, dict[str, str]]:
    out = {}
    for s in msg.status:
        if s.name.startswith('carin_ros: task '):
            out[s.name[len('carin_ros: task '):]] = {kv.key: kv.value for kv in s.values}
    return out


def run(minutes: float, switch_s: float, rate_hz: float, warmup_s: float,
        config_path: str) -> dict:
    config = longrun_config(config_path, rate_hz)
    env = graph_env(config)
    os.environ.update(env)
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from std_msgs.msg import String

    from carin_ros.nodes.common import RELIABLE_QOS

    log_dir = tempfile.mkdtemp(prefix='carin_longrun_')
    tasks = list(config.task_nodes())
    results = {t: 0 for t in tasks}
    status: dict[str, dict[str, str]] = {}
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('carin_longrun_probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    first_seq: dict[str, int] = {}

    def on_result(task: str, data: str) -> None:
        results[task] += 1
        if task not in first_seq:  # results before the subscription matched: seq counts them
            first_seq[task] = int(json.loads(data)['seq'])

    for task, spec in config.task_nodes().items():
        node.create_subscription(String, spec.topic('results'),
                                 lambda m, t=task: on_result(t, m.data), RELIABLE_QOS)
    node.create_subscription(DiagnosticArray, '/diagnostics',
                             lambda m: status.update(_status_values(m)), RELIABLE_QOS)
    image_node = config.task_nodes()[IMAGE_TASK].name
    client = AsyncParameterClient(node, image_node)
    graph = GraphProcesses(config, env, log_dir)
    series: dict[str, ProcSeries] = {}
    switches: list[tuple[float, str, bool]] = []

    stopped: set[str] = set()

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            dead = [c for c in graph.dead() if c.name not in stopped]
            if dead:
                raise RuntimeError(f'node {dead[0].name} exited '
                                   f'({dead[0].popen.returncode}):\n{dead[0].log_tail()}')

    try:
        graph.start()
        procs = {c.name: psutil.Process(c.popen.pid) for c in graph.children}
        series = {name: ProcSeries(name) for name in procs}
        deadline = time.monotonic() + 180
        while not all(results.values()):
            if time.monotonic() > deadline:
                raise RuntimeError(f'no results from every task within 180 s: {results}; '
                                   f'logs in {log_dir}')
            spin(0.5)
        start = time.monotonic()
        end = start + minutes * 60
        next_sample = start
        next_switch = start + switch_s
        k = 0
        print(f'longrun: all tasks serving; running {minutes:g} min, logs in {log_dir}',
              flush=True)
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                for name, p in procs.items():
                    with p.oneshot():
                        series[name].samples.append((now - start, p.memory_info().rss,
                                                     p.num_threads(), p.num_fds()))
                next_sample += 5.0
            if now >= next_switch:
                k += 1
                key = SWITCH_DESIGNS[k % 2]
                fut = client.set_parameters([Parameter('design', value=key)])
                t_req = time.monotonic()
                while not fut.done() and time.monotonic() - t_req < 20:
                    executor.spin_once(timeout_sec=0.05)
                ok = fut.done() and fut.result().results[0].successful
                switches.append((now - start, key, bool(ok)))
                next_switch += switch_s
                print(f'  t={now - start:5.0f} s switch -> {key}: '
                      f'{"accepted" if ok else "REJECTED"}; results {results}', flush=True)
            spin(0.2)
        elapsed = time.monotonic() - start
        # Stop the inputs, let the queues drain, then read the final counters.
        inputs = {n.name for n in config.nodes if n.executable in ('camera_sim', 'text_sim')}
        for c in graph.children:
            if c.name in inputs:
                stopped.add(c.name)
                c.popen.send_signal(2)
                c.popen.wait(timeout=10)
        spin(4.0)
        final_status = {t: dict(status.get(t, {})) for t in tasks}
        final_results = dict(results)
        final_serving = {t: final_status[t].get('design', '') for t in tasks}
    finally:
        graph.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    return {'minutes': minutes, 'elapsed_s': elapsed, 'warmup_s': warmup_s, 'rate_hz': rate_hz,
            'series': series, 'switches': switches, 'status': final_status,
            'results': final_results, 'serving': final_serving, 'log_dir': log_dir,
            'first_seq': dict(first_seq)}


def analyse(run_out: dict) -> tuple[str, bool]:
    """The markdown body and whether every criterion held."""
    elapsed, warm = run_out['elapsed_s'], run_out['warmup_s']
    rows, ok = [], True
    for name, s in run_out['series'].items():
        base = s.window(warm, warm + 60) or s.samples[:1]
        last = s.window(elapsed - 60, elapsed + 1) or s.samples[-1:]
        rss0 = statistics.median(x[1] for x in base)
        rss1 = statistics.median(x[1] for x in last)
        growth = (rss1 - rss0) / rss0 * 100
        thr0, thr1 = max(x[2] for x in base), max(x[2] for x in last)
        fd0, fd1 = max(x[3] for x in base), max(x[3] for x in last)
        peak_thr = max(x[2] for x in s.samples)
        node_ok = growth < 5.0 and thr1 <= thr0 and fd1 <= fd0
        ok &= node_ok
        rows.append([name, f'{rss0 / 2**20:.1f}', f'{rss1 / 2**20:.1f}', f'{growth:+.2f}',
                     f'{thr0} -> {thr1} (peak {peak_thr})', f'{fd0} -> {fd1}',
                     'yes' if node_ok else 'NO'])
    body = [f'{run_out["minutes"]:g} minutes of the demo graph (camera {run_out["rate_hz"]:g} '
            f'Hz 640x480, text 5 Hz, three task nodes, resource monitor; no manager) with the '
            f'image task switched every 30 s between {" and ".join(SWITCH_DESIGNS)} '
            f'({len(run_out["switches"])} switches, '
            f'{sum(1 for s in run_out["switches"] if s[2])} accepted). Memory growth compares '
            f'the median RSS of the first minute after a {warm:g} s warm-up with the median '
            f'RSS of the last minute; threads and file descriptors the maxima of the same '
            f'windows (a switch briefly adds a builder/closer thread).', '',
            markdown_table(['node', 'RSS after warm-up MiB', 'RSS at end MiB', 'growth %',
                            'threads', 'fds', 'ok'], rows), '']
    acc_rows = []
    for task, st in run_out['status'].items():
        received = int(st.get('received', -1))
        served = int(st.get('served', -1))
        drops = {c: int(st.get(f'dropped.{c}', 0)) for c in COUNTERS}
        got = run_out['results'][task]
        early = run_out['first_seq'].get(task, 0)
        balanced = received == served + sum(drops.values()) and got + early == served
        ok &= balanced
        acc_rows.append([task, received, served, f'{got} (+{early} before it listened)',
                         ', '.join(f'{k} {v}' for k, v in
                                                                 drops.items() if v) or 'none',
                         'yes' if balanced else 'NO'])
    body += ['Accounting after the inputs stopped (received by the node = served + counted '
             'drops; results seen by a subscriber = served). Frames the best-effort transport '
             'lost before a node received them are outside this count.', '',
             markdown_table(['task', 'received', 'served', 'results seen', 'drops',
                             'balanced'], acc_rows), '',
             f'All criteria (RSS growth < 5 %, no thread or fd growth, balanced counts): '
             f'**{"met" if ok else "NOT met"}**.']
    return '\n'.join(body), ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--switch-s', type=float, default=30.0)
    parser.add_argument('--rate-hz', type=float, default=30.0)
    parser.add_argument('--warmup-s', type=float, default=60.0)
    parser.add_argument('--config', default='config/demo.yaml')
    parser.add_argument('--no-write', action='store_true',
                        help='print the result; do not touch docs/benchmarks.md')
    args = parser.parse_args(argv)
    if args.minutes * 60 < args.warmup_s + 60:
        parser.error('--minutes must leave at least a minute after --warmup-s')
    out = run(args.minutes, args.switch_s, args.rate_hz, args.warmup_s, args.config)
    body, ok = analyse(out)
    print(body)
    if not args.no_write:
        write_section('longrun', 'Long run: memory, threads, descriptors, accounting', body)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

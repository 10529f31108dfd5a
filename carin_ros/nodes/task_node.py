"""task_node: serves one DNN task on the newest input with a hot-swappable design.

Subscribes to ``image`` (sensor_msgs/Image, sensor-data QoS) or ``text`` (std_msgs/String),
keeps only the newest ``queue_size`` inputs (older ones are dropped and counted), runs the
current design on a worker thread through :class:`carin_ros.engine.runner.SwitchableRunner`
and publishes each result on ``results`` as JSON (schema in docs/messages.md), plus
``vision_msgs/Classification`` and a latched ``LabelInfo`` when vision_msgs is installed.
The ``design`` parameter (``variant@processor``) switches the design: the runner builds and
warms the new pipeline while the old one serves, so no input is lost to a switch. The
``standby`` parameter lists designs to keep built and warm (up to ``standby_max``): a switch
to one of them swaps at once, with no build.
"""
from __future__ import annotations

import collections
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String

from carin_ros.core.space import Design, Processor
from carin_ros.engine.decode import DecodeError, decode_image_msg, decode_text
from carin_ros.engine.runner import InferenceError, Result, SwitchableRunner, SwitchOutcome
from carin_ros.nodes.common import (
    DIAGNOSTICS_TOPIC,
    LATCHED_QOS,
    RELIABLE_QOS,
    SENSOR_QOS,
    RateLimitedLog,
    float_param,
    int_param,
    run,
    text_param,
    until_shutdown,
)

RESULT_SCHEMA = 'carin_ros/result/1'
SWITCH_SCHEMA = 'carin_ros/switch/1'
IMAGE_KINDS = ('image_classification', 'face_analysis')
TASK_STATUS_PREFIX = 'carin_ros: task '


@dataclass(frozen=True)
class Inbound:
    """One input as received: the raw message, its stamp and when it arrived."""

    msg: Any
    stamp_sec: int
    stamp_nanosec: int
    frame_id: str
    received: float  # time.time()


def load_processors(profile_db: str, zoo_version: str = '') -> tuple[Processor, ...]:
    """The processors designs may name: the profile DB's, or this host's discovered ones.

    A profile database measured on another zoo version than ``zoo_version`` is refused.
    """
    if profile_db:
        from carin_ros.core.profiles import ProfileDB
        db = ProfileDB.load(profile_db)
        if db.zoo_version and zoo_version and db.zoo_version != zoo_version:
            raise ValueError(f'task_node: profile database {profile_db} was measured on zoo '
                             f'version {db.zoo_version}, but the zoo is version {zoo_version}: '
                             f're-profile (carin-profile) or deploy the matching zoo')
        return db.processors
    from carin_ros.engine.processors import discover
    return discover()


def result_json(task: str, item: Inbound, result: Result, counters: dict[str, int]) -> str:
    """The documented result message (docs/messages.md, schema ``carin_ros/result/1``)."""
    p = result.prediction
    return json.dumps({
        'schema': RESULT_SCHEMA, 'task': task,
        'stamp': {'sec': item.stamp_sec, 'nanosec': item.stamp_nanosec},
        'frame_id': item.frame_id, 'seq': result.seq,
        'design': result.design.key, 'variant': result.design.variant,
        'processor': result.design.processor,
        'label': p.label, 'score': float(p.score),
        'top_k': [[label, float(score)] for label, score in p.top_k],
        'details': dict(p.details),
        'latency_ms': round(result.latency_ms, 3), 'wait_ms': round(result.wait_ms, 3),
        'queue_ms': round((time.time() - item.received) * 1e3 - result.total_ms, 3),
        'dropped': dict(counters),
    }, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class TaskNode(Node):
    """One task's inference server; see the module docstring."""

    def __init__(self) -> None:
        super().__init__('task_node')
        self._task: str = self.declare_parameter('task', '', text_param(
            'task to serve (a task of the model zoo)', read_only=True)).value
        model_dir = self.declare_parameter('model_dir', '', text_param(
            'built model zoo directory (empty: $CARIN_MODEL_DIR or models/build)',
            read_only=True)).value
        profile_db = self.declare_parameter('profile_db', '', text_param(
            'profile database whose processors designs may name (empty: discover this host)',
            read_only=True)).value
        queue_size = self.declare_parameter('queue_size', 1, int_param(
            'inputs kept while busy; older ones are dropped (newest wins)', 1, 2,
            read_only=True)).value
        window = self.declare_parameter('latency_window', 30, int_param(
            'results in the latency window published on /diagnostics', 1, 10000,
            read_only=True)).value
        health_period = self.declare_parameter('health_period_s', 1.0, float_param(
            'period of the /diagnostics health status', 0.05, 60.0, read_only=True)).value
        warmup = self.declare_parameter('warmup_runs', 3, int_param(
            'inferences a new design runs before it serves', 0, 100, read_only=True)).value
        self._fail_after = self.declare_parameter('failures_before_report', 3, int_param(
            'consecutive inference failures of the serving design before it is reported '
            'failed on switch_events (the manager then falls back)', 1, 1000,
            read_only=True)).value
        initial = self.declare_parameter('design', '', text_param(
            'serving design as variant@processor; setting it hot-swaps the design')).value
        self._standby_max = self.declare_parameter('standby_max', 3, int_param(
            'most designs of the standby list kept built and warm (memory: one session each)',
            0, 16, read_only=True)).value
        standby = self.declare_parameter('standby', [''], ParameterDescriptor(
            type=ParameterType.PARAMETER_STRING_ARRAY,
            description='designs (variant@processor) to keep warm, most likely first: a switch '
                        'to one swaps at once, without a build (the manager sets this from its '
                        'design set)')).value
        if not self._task:
            raise ValueError('task_node: parameter "task" is required')

        from carin_ros.engine.runner import zoo_factory
        from carin_ros.zoo.manifest import Zoo
        self._zoo = Zoo.load(model_dir or None)
        if self._task not in self._zoo.tasks:
            raise ValueError(f'task_node: task {self._task!r} is not in the zoo at '
                             f'{self._zoo.root} (tasks: {", ".join(self._zoo.tasks)})')
        self._kind = self._zoo.kind(self._task)
        self._variants = tuple(v.name for v in self._zoo.variants(self._task))
        self._processors = {p.name: p for p in load_processors(profile_db, self._zoo.version)}
        design = self._parse_design(initial) if initial else Design(
            self._task, self._variants[0], next(iter(self._processors)))
        self._hostname = socket.gethostname()
        self._log = RateLimitedLog(self)
        self._lock = threading.Condition()
        self._inbox: collections.deque[Inbound] = collections.deque(maxlen=queue_size)
        self._counters = {'stale': 0, 'bad_input': 0, 'failed': 0, 'busy': 0}
        self._received = 0
        self._latencies: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=window)
        self._last_switch: SwitchOutcome | None = None
        self._stopping = threading.Event()
        self._consecutive_failures = 0
        self._reported: Design | None = None

        self._results = self.create_publisher(String, 'results', RELIABLE_QOS)
        self._switches = self.create_publisher(String, 'switch_events', RELIABLE_QOS)
        self._diag = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, RELIABLE_QOS)
        self._vision = _VisionPublishers.create(self)

        self._runner = SwitchableRunner(self._task, zoo_factory(self._zoo), self._processors,
                                        design, warmup_runs=warmup, on_switch=self._on_switch,
                                        on_error=self._on_serving_error)
        self.get_logger().info(f'{self._task} ({self._kind}) serving {design.key}; '
                               f'processors: {", ".join(self._processors)}')
        if self._vision is not None:
            self._vision.publish_label_info(self._runner.design)
        self._set_standby(self._parse_standby(standby))

        self.add_on_set_parameters_callback(self._validate)
        self.add_post_set_parameters_callback(self._apply)
        if self._kind in IMAGE_KINDS:
            self.create_subscription(Image, 'image', self._on_input, SENSOR_QOS)
        else:
            self.create_subscription(String, 'text', self._on_input, RELIABLE_QOS)
        self._worker = threading.Thread(target=self._work, name=f'carin-task-{self._task}',
                                        daemon=True)
        self._worker.start()
        self.create_timer(health_period, until_shutdown(self, self._publish_health))

    # -- parameters ----------------------------------------------------------------------------
    def _parse_design(self, key: str) -> Design:
        design = Design.parse(self._task, key)
        if design.variant not in self._variants:
            raise ValueError(f'unknown variant {design.variant!r} for {self._task} '
                             f'(known: {", ".join(self._variants)})')
        if design.processor not in self._processors:
            raise ValueError(f'unknown processor {design.processor!r} '
                             f'(known: {", ".join(self._processors)})')
        return design

    def _parse_standby(self, keys: Sequence[str]) -> list[Design]:
        return [self._parse_design(k) for k in keys if k]

    def _set_standby(self, designs: list[Design]) -> None:
        kept = designs[:self._standby_max]
        self._runner.set_standby(kept)
        if kept:
            self.get_logger().info(f'standby (kept warm): {", ".join(d.key for d in kept)}')

    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        checks = {'design': (Parameter.Type.STRING, 'a string', self._parse_design),
                  'standby': (Parameter.Type.STRING_ARRAY, 'a list of strings',
                              self._parse_standby)}
        for p in params:
            if p.name not in checks:
                continue
            type_, what, parse = checks[p.name]
            if p.type_ != type_:
                return SetParametersResult(successful=False, reason=f'{p.name} must be {what}')
            try:
                parse(p.value)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=f'{p.name}: {exc}')
        return SetParametersResult(successful=True)

    def _apply(self, params: list[Parameter]) -> None:
        for p in params:
            if p.name == 'standby':
                self._set_standby(self._parse_standby(p.value))
        for p in params:
            if p.name == 'design':
                design = self._parse_design(p.value)
                if design != self._runner.design or self._runner.switching_to is not None:
                    self.get_logger().info(f'switching {self._runner.design.key} -> '
                                           f'{design.key}')
                    self._runner.switch(design)

    def _on_switch(self, outcome: SwitchOutcome) -> None:
        """Runner callback (builder thread): log, publish, and undo a failed switch."""
        self._last_switch = outcome
        msg = {'schema': SWITCH_SCHEMA, 'task': self._task, 'stamp': time.time(),
               'design': outcome.design.key, 'previous': outcome.previous.key,
               'status': outcome.status.value, 'build_ms': round(outcome.build_ms, 1),
               'error': outcome.error}
        self._switches.publish(String(data=json.dumps(msg)))
        if outcome.status.value == 'switched':
            self.get_logger().info(f'now serving {outcome.design.key} '
                                   f'(built in {outcome.build_ms:.0f} ms)')
            if self._vision is not None:
                self._vision.publish_label_info(outcome.design)
        elif outcome.status.value == 'failed':
            self.get_logger().error(f'switch to {outcome.design.key} failed: {outcome.error}; '
                                    f'still serving {self._runner.design.key}')
            # The parameter must say what serves: put it back (re-validates; a no-op switch).
            threading.Thread(target=self.set_parameters, args=(
                [Parameter('design', value=self._runner.design.key)],), daemon=True).start()

    def _on_serving_error(self, design: Design, exc: BaseException) -> None:
        """Runner callback (serving thread): after ``failures_before_report`` consecutive
        failures of one design, report it failed once on switch_events, as a failed switch
        is; the manager marks its processor unavailable and switches to the design set's
        answer for that event (the task node itself never picks a design)."""
        with self._lock:
            self._consecutive_failures += 1
            if self._consecutive_failures < self._fail_after or self._reported == design:
                return
            self._reported = design
        error = f'serving failed {self._consecutive_failures} times: {type(exc).__name__}: {exc}'
        self.get_logger().error(f'{design.key}: {error}; reporting it failed')
        self._switches.publish(String(data=json.dumps({
            'schema': SWITCH_SCHEMA, 'task': self._task, 'stamp': time.time(),
            'design': design.key, 'previous': design.key, 'status': 'failed',
            'kind': 'serving_failed', 'build_ms': 0.0, 'error': error})))

    # -- input and worker ----------------------------------------------------------------------
    def _on_input(self, msg: Any) -> None:
        header = getattr(msg, 'header', None)
        now = time.time()
        if header is not None:
            sec, nsec, frame = header.stamp.sec, header.stamp.nanosec, header.frame_id
        else:
            sec, nsec, frame = int(now), int((now % 1) * 1e9), ''
        item = Inbound(msg, sec, nsec, frame, now)
        with self._lock:
            if len(self._inbox) == self._inbox.maxlen:
                self._counters['stale'] += 1
            self._inbox.append(item)
            self._received += 1
            self._lock.notify()

    def _decode(self, msg: Any) -> Any:
        if self._kind in IMAGE_KINDS:
            return decode_image_msg(msg)
        return decode_text(msg.data)

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                while not self._inbox and not self._stopping.is_set():
                    self._lock.wait(0.5)
                if self._stopping.is_set():
                    return
                item = self._inbox.pop()  # the newest
                self._counters['stale'] += len(self._inbox)
                self._inbox.clear()
            try:
                sample = self._decode(item.msg)
            except DecodeError as exc:
                with self._lock:
                    self._counters['bad_input'] += 1
                self._log.warn('bad_input', f'dropped bad input: {exc.reason}')
                continue
            try:
                result = self._runner.infer(sample, timeout=60.0)
            except InferenceError as exc:
                with self._lock:
                    self._counters['failed'] += 1
                self._log.warn('failed', f'inference failed: {exc}')
                continue
            except Exception as exc:  # RunnerClosed at shutdown, timeouts
                if self._stopping.is_set():
                    return
                with self._lock:
                    self._counters['failed'] += 1
                self._log.warn('error', f'inference error: {type(exc).__name__}: {exc}')
                continue
            with self._lock:
                counters = dict(self._counters)
                self._latencies.append((time.monotonic(), result.latency_ms))
                self._consecutive_failures = 0
                if self._reported is not None and self._reported != result.design:
                    self._reported = None
            try:
                self._results.publish(String(data=result_json(self._task, item, result,
                                                              counters)))
                if self._vision is not None:
                    self._vision.publish_classification(item, result)
            except Exception as exc:  # rclpy's RCLError once the context is shut down
                if self._stopping.is_set() or not self.context.ok():
                    return
                self._log.warn('publish', f'publishing a result failed: {exc}')

    # -- health --------------------------------------------------------------------------------
    def _publish_health(self) -> None:
        with self._lock:
            window = list(self._latencies)
            counters = dict(self._counters)
            received = self._received
        stats = self._runner.stats()
        values = [('task', self._task), ('kind', self._kind),
                  ('design', self._runner.design.key),
                  ('switching_to', (self._runner.switching_to.key
                                    if self._runner.switching_to else '')),
                  ('received', str(received)), ('served', str(stats.served)),
                  ('switches', str(stats.switches)),
                  ('failed_switches', str(stats.failed_switches)),
                  ('standby', ','.join(d.key for d in self._runner.standby))]
        values += [(f'dropped.{k}', str(v)) for k, v in counters.items()]
        level, message = DiagnosticStatus.OK, f'serving {self._runner.design.key}'
        if window:
            lat = sorted(v for _, v in window)
            span = window[-1][0] - window[0][0]
            fps = (len(window) - 1) / span if span > 0 else 0.0
            for q in (50, 90, 99):
                values.append((f'latency_p{q}_ms', f'{_quantile(lat, q / 100):.3f}'))
            values += [('latency_window', str(len(lat))), ('throughput_fps', f'{fps:.2f}')]
            message += f', p90 {_quantile(lat, 0.9):.1f} ms, {fps:.1f} fps'
        else:
            message += ', no results yet'
        if self._last_switch is not None and self._last_switch.status.value == 'failed':
            level = DiagnosticStatus.WARN
            message += f'; last switch failed: {self._last_switch.error}'
        if counters['failed']:
            level = DiagnosticStatus.WARN
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [DiagnosticStatus(
            level=level, name=f'{TASK_STATUS_PREFIX}{self._task}', message=message,
            hardware_id=self._hostname, values=[KeyValue(key=k, value=v) for k, v in values])]
        self._diag.publish(msg)

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        self._worker.join(5.0)
        self._runner.close(timeout=10.0)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of an already sorted list."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class _VisionPublishers:
    """vision_msgs Classification + latched LabelInfo; only where vision_msgs is installed."""

    def __init__(self, node: TaskNode, msgs: Any) -> None:
        self._node = node
        self._msgs = msgs
        self._class_ids: dict[str, int] = {}
        self._cls = node.create_publisher(msgs.Classification, 'classification', RELIABLE_QOS)
        self._info = node.create_publisher(msgs.LabelInfo, 'label_info', LATCHED_QOS)

    @classmethod
    def create(cls, node: TaskNode) -> _VisionPublishers | None:
        if os.environ.get('CARIN_NO_VISION_MSGS'):
            return None
        try:
            import vision_msgs.msg as msgs
        except ImportError:
            node.get_logger().info('vision_msgs not installed: publishing JSON results only')
            return None
        return cls(node, msgs)

    def publish_label_info(self, design: Design) -> None:
        labels = getattr(self._node._zoo.variant(design.task, design.variant), 'params', {})
        names = list(labels.get('labels', ())) if isinstance(labels, dict) else []
        info = self._msgs.LabelInfo()
        info.header.stamp = self._node.get_clock().now().to_msg()
        info.class_map = [self._msgs.VisionClass(class_id=i, class_name=str(n))
                          for i, n in enumerate(names)]
        self._class_ids = {str(n): i for i, n in enumerate(names)}
        info.threshold = 0.0
        self._info.publish(info)

    def publish_classification(self, item: Inbound, result: Result) -> None:
        msg = self._msgs.Classification()
        msg.header.stamp.sec, msg.header.stamp.nanosec = item.stamp_sec, item.stamp_nanosec
        msg.header.frame_id = item.frame_id
        msg.results = [self._msgs.ObjectHypothesis(class_id=str(label), score=float(score))
                       for label, score in result.prediction.top_k]
        self._cls.publish(msg)


def main(args: Sequence[str] | None = None) -> int:
    return run(TaskNode, args)


if __name__ == '__main__':
    sys.exit(main())

"""carin_manager node: SLOs as parameters, RASS design set, event-driven design switching.

At start it loads the profile database and the SLO file, solves RASS once (in the
background again whenever an SLO parameter changes) and sets every task node's ``design``
parameter to the primary design. Device state from ``/diagnostics`` (the resource monitor)
goes through the core's :class:`~carin_ros.core.policy.RuntimePolicy` (event detector with
hysteresis, closed-loop latency watch, design-set lookup); when the answer changes the task
nodes are switched with an AsyncParameterClient. A task node's failed switch counts as its
processor being unavailable. Topics (JSON on std_msgs/String, docs/messages.md):
``carin/active_designs``, ``carin/events``, ``carin/slo_status`` (latched) and
``carin/switch_log``; service ``carin/get_design_set`` (std_srvs/Trigger, YAML in message).
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from std_msgs.msg import String
from std_srvs.srv import Trigger

from carin_ros.core.events import EventError, EventModel, event_key
from carin_ros.core.policy import (
    Decision,
    DetectorConfig,
    DeviceState,
    EventDetector,
    LatencyWatch,
    standby_designs,
)
from carin_ros.core.profiles import Metric, ProfileDB, latency_statistic
from carin_ros.core.rass import DesignSet, InfeasibleSLOError, solve, solve_or_closest
from carin_ros.core.slo import (
    APP,
    ParamInfo,
    ParamType,
    SloError,
    SloSpec,
    param_descriptors,
    validate_param,
)
from carin_ros.evaluation.strategies import Strategy, make_policy, parse_strategy
from carin_ros.monitor import DiagnosticsFormatError
from carin_ros.nodes.common import (
    DIAGNOSTICS_TOPIC,
    LATCHED_QOS,
    RELIABLE_QOS,
    RateLimitedLog,
    float_param,
    int_param,
    run,
    text_param,
    until_shutdown,
)
from carin_ros.nodes.diagnostics import find_device_sample
from carin_ros.nodes.paths import project_file

SLO_PREFIXES = ('slo.', 'objectives.', 'rates.')
REQUEST_TIMEOUT_S = 10.0
"""A parameter request to a task node unanswered this long is sent again."""


def default_profile_db() -> str:
    """The only (or this host's) profile under config/profiles; '' when there is none."""
    folder = project_file(os.path.join('config', 'profiles'))
    if not folder:
        return ''
    files = sorted(f for f in os.listdir(folder) if f.endswith(('.yaml', '.yml')))
    host = os.uname().nodename
    for f in files:
        if os.path.splitext(f)[0] == host:
            return os.path.join(folder, f)
    return os.path.join(folder, files[0]) if len(files) == 1 else ''


def descriptor(info: ParamInfo) -> ParameterDescriptor:
    """A ROS descriptor for one SLO parameter of the core's :func:`param_descriptors`.

    Bounds whose default is NaN (= unset) carry their range in the description only: rclpy's
    range check would reject NaN; the set-parameters callback enforces it with a reason.
    """
    types = {ParamType.DOUBLE: ParameterType.PARAMETER_DOUBLE,
             ParamType.STRING: ParameterType.PARAMETER_STRING,
             ParamType.STRING_ARRAY: ParameterType.PARAMETER_STRING_ARRAY}
    d = ParameterDescriptor(type=types[info.type], description=info.description,
                            read_only=info.read_only)
    if info.choices:
        d.additional_constraints = f'one of {list(info.choices)}'
    nan_default = isinstance(info.default, float) and math.isnan(info.default)
    if info.type is ParamType.DOUBLE and info.min_value is not None and not nan_default:
        d.floating_point_range = [FloatingPointRange(
            from_value=float(info.min_value),
            to_value=math.inf if info.max_value is None else float(info.max_value))]
    elif info.min_value is not None:
        hi = 'inf' if info.max_value is None else f'{info.max_value:g}'
        d.additional_constraints = f'NaN (unset) or in [{info.min_value:g}, {hi}]'
    return d


STANDBY_LIST_MAX = 8  # designs per task sent as the standby list; the node keeps standby_max


@dataclass
class TaskLink:
    """The manager's view of one task node."""

    task: str
    node: str
    client: AsyncParameterClient
    desired: str = ''
    confirmed: str = ''
    serving: str = ''
    in_flight: bool = False
    verifying: bool = False
    verify_started: float = 0.0
    rejected: str = ''
    requested_at: float = 0.0
    reason: str = ''
    standby: tuple[str, ...] = ()       # designs the node should keep warm, likeliest first
    standby_sent: tuple[str, ...] = ()  # the list the node last answered for
    standby_in_flight: bool = False
    latencies: deque = field(default_factory=lambda: deque(maxlen=60))
    stamps: deque = field(default_factory=lambda: deque(maxlen=60))


class Manager(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__('carin_manager')
        self._log = RateLimitedLog(self)
        db_path = self.declare_parameter('profile_db', '', text_param(
            'profile database (empty: config/profiles/<hostname>.yaml or the only one there)',
            read_only=True)).value or default_profile_db()
        slo_path = self.declare_parameter('slo_file', '', text_param(
            'SLO spec YAML giving the tasks and initial SLO parameters', read_only=True)).value
        events_path = self.declare_parameter('events_file', '', text_param(
            'event model and detection thresholds (empty: config/events.yaml when present, '
            'else built-in defaults)', read_only=True)).value or project_file(
            os.path.join('config', 'events.yaml'))
        self._max_simultaneous = self.declare_parameter('max_simultaneous', 2, int_param(
            'simultaneous events RASS precomputes answers for', 0, 4, read_only=True)).value
        node_map = self.declare_parameter('task_nodes', [''], ParameterDescriptor(
            type=ParameterType.PARAMETER_STRING_ARRAY, read_only=True,
            description='task=node_name pairs (a task without one: node named as the task)'
        )).value
        self._results_pattern = self.declare_parameter('results_topic', 'carin/{task}/results',
                                                       text_param(
            'results topic of each task node ({task} is replaced)', read_only=True)).value
        self._switch_pattern = self.declare_parameter(
            'switch_events_topic', 'carin/{task}/switch_events', text_param(
                'switch outcome topic of each task node ({task} is replaced)',
                read_only=True)).value
        period = self.declare_parameter('decision_period_s', 0.2, float_param(
            'how often events are re-evaluated without new device state', 0.02, 10.0,
            read_only=True)).value
        self._status_period = self.declare_parameter('status_period_s', 1.0, float_param(
            'period of carin/slo_status', 0.1, 60.0, read_only=True)).value
        strategy_text = self.declare_parameter('strategy', 'carin', ParameterDescriptor(
            type=ParameterType.PARAMETER_STRING, read_only=True,
            additional_constraints=f'one of {[s.value for s in Strategy]}',
            description='carin: design-set lookup; static: keep the primary design, never '
                        'switch (baseline); oodin: re-solve from scratch whenever the events '
                        'change (baseline)')).value
        strategy = parse_strategy(str(strategy_text))  # a bad value ends the node, named
        self._stale_after = self.declare_parameter('device_state_timeout_s', 3.0, float_param(
            'device state older than this is stale: designs are kept and it is reported',
            0.1, 600.0, read_only=True)).value
        self._verify_period = self.declare_parameter('verify_period_s', 2.0, float_param(
            'how often each task node\'s design parameter is read back (a restarted node '
            'gets its design again); 0 disables', 0.0, 600.0, read_only=True)).value
        model_dir = self.declare_parameter('model_dir', '', text_param(
            'model zoo whose version the profile database must match (empty: the default '
            'zoo when one is built; none: no check)', read_only=True)).value

        if not db_path:
            raise ValueError('carin_manager: no profile database (set "profile_db"; none found '
                             'under config/profiles)')
        if not slo_path:
            raise ValueError('carin_manager: parameter "slo_file" is required')
        self._db = ProfileDB.load(db_path)
        check_zoo_version(self._db, db_path, model_dir)
        spec = SloSpec.load(slo_path)
        self._event_model = EventModel.load(events_path) if events_path else EventModel()
        self._detector_config = (DetectorConfig.load(events_path) if events_path
                                 else DetectorConfig())
        self.get_logger().info(f'profiles {db_path} ({self._db.device}), SLOs {slo_path}, '
                               f'events {events_path or "built-in defaults"}')

        # SLOs and objectives as parameters, named as in the YAML spec (core.slo).
        self._spec = spec
        values = spec.to_ros_params(full=True)
        for info in param_descriptors(spec.tasks):
            self.declare_parameter(info.name, values.get(info.name, info.default),
                                   descriptor(info))
        self.add_on_set_parameters_callback(self._validate)
        self.add_post_set_parameters_callback(self._after_set)

        self._lock = threading.RLock()
        t0 = time.perf_counter()
        design_set, infeasible = solve_or_closest(
            self._db, spec, self._event_model, max_simultaneous=self._max_simultaneous)
        self._infeasible: str = '' if infeasible is None else str(infeasible)
        if infeasible is not None:
            self.get_logger().error(f'SLOs infeasible at start-up; serving the closest design '
                                    f'until the SLOs change: {infeasible}')
        self.get_logger().info(f'RASS solved in {time.perf_counter() - t0:.2f} s: primary '
                               f'{design_set.primary.design}, {len(design_set.answers)} event '
                               f'sets')
        detector = EventDetector(design_set.processors, design_set.n_cores,
                                 self._detector_config)
        self._policy = make_policy(strategy, design_set, self._db, detector,
                                   LatencyWatch(design_set.spec, self._detector_config))
        self.get_logger().info(f'strategy {strategy}')
        self._strategy = strategy
        self._warm(design_set)
        self._solve_thread: threading.Thread | None = None
        self._resolve_pending: SloSpec | None = None
        self._diag_drops = 0
        self._last_decision: Decision | None = None
        self._last_sample = time.monotonic()  # start-up counts as fresh
        self._stale = False
        self._next_verify = time.monotonic() + self._verify_period

        pairs = dict(p.split('=', 1) for p in node_map if '=' in p)
        self._links = {t: TaskLink(t, pairs.get(t, t), AsyncParameterClient(self, pairs.get(
            t, t))) for t in spec.tasks}

        self._active_pub = self.create_publisher(String, 'carin/active_designs', LATCHED_QOS)
        self._events_pub = self.create_publisher(String, 'carin/events', LATCHED_QOS)
        self._status_pub = self.create_publisher(String, 'carin/slo_status', LATCHED_QOS)
        self._switch_pub = self.create_publisher(String, 'carin/switch_log', RELIABLE_QOS)
        # One executor thread (nodes/common.run): these callbacks never run concurrently.
        quiet = functools.partial(until_shutdown, self)
        self.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, quiet(self._on_diagnostics),
                                 RELIABLE_QOS)
        for t in spec.tasks:
            self.create_subscription(String, self._results_pattern.format(task=t),
                                     quiet(lambda m, t=t: self._on_result(t, m)), RELIABLE_QOS)
            self.create_subscription(String, self._switch_pattern.format(task=t),
                                     quiet(lambda m, t=t: self._on_switch_event(t, m)),
                                     RELIABLE_QOS)
        self.create_service(Trigger, 'carin/get_design_set', quiet(self._get_design_set))
        self.create_timer(period, quiet(self._tick))
        self.create_timer(self._status_period, quiet(self._publish_status))
        self._apply(self._policy.decide(time.time()), 'start-up: primary design', force=True)

    # -- SLO parameters ------------------------------------------------------------------------
    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        spec = self._spec
        for p in params:
            if not p.name.startswith(SLO_PREFIXES):
                continue
            value = p.value
            if p.type_ == Parameter.Type.INTEGER:
                value = float(value)
            reason = validate_param(p.name, value, spec.tasks)
            if reason:
                return SetParametersResult(successful=False, reason=f'{p.name}: {reason}')
            try:
                spec = spec.with_param(p.name, value)
            except SloError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _after_set(self, params: list[Parameter]) -> None:
        changed = [p for p in params if p.name.startswith(SLO_PREFIXES)]
        if not changed:
            return
        spec = self._spec
        for p in changed:
            spec = spec.with_param(p.name, float(p.value) if p.type_ == Parameter.Type.INTEGER
                                   else p.value)
        self._spec = spec
        self.get_logger().info(f'SLO changed ({", ".join(p.name for p in changed)}): '
                               f're-solving in the background')
        with self._lock:
            self._resolve_pending = spec
            if self._solve_thread is None or not self._solve_thread.is_alive():
                self._solve_thread = threading.Thread(target=self._resolve_loop,
                                                      name='carin-resolve', daemon=True)
                self._solve_thread.start()

    def _solve(self, spec: SloSpec) -> DesignSet:
        return solve(self._db, spec, self._event_model, max_simultaneous=self._max_simultaneous)

    def _resolve_loop(self) -> None:
        while True:
            with self._lock:
                spec, self._resolve_pending = self._resolve_pending, None
            if spec is None:
                return
            t0 = time.perf_counter()
            try:
                design_set = self._solve(spec)
            except InfeasibleSLOError as exc:
                self.get_logger().error(f'new SLOs are infeasible, keeping the previous design '
                                        f'set: {exc}')
                self._infeasible = f'new SLOs not applied: {exc}'
                self._publish_switch({'kind': 'resolve_failed', 'error': str(exc)})
                continue
            self._infeasible = ''
            with self._lock:
                self._policy.set_design_set(design_set)
                decision = self._policy.decide(time.time())
            self._warm(design_set)
            self.get_logger().info(f're-solved in {time.perf_counter() - t0:.2f} s: primary '
                                   f'{design_set.primary.design}')
            self._apply(decision, 'SLO parameters changed', force=True)

    # -- inputs --------------------------------------------------------------------------------
    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        try:
            sample = find_device_sample(msg)
        except DiagnosticsFormatError as exc:
            self._diag_drops += 1
            self._log.warn('diag', f'dropped malformed device status: {exc}')
            return
        if sample is None:
            return
        self._last_sample = time.monotonic()
        if self._stale:
            self._stale = False
            self.get_logger().info('device state is fresh again')
            self._publish_switch({'kind': 'device_state_fresh'})
        with self._lock:
            decision = self._policy.update(DeviceState.from_sample(sample))
        self._apply(decision, 'device state')

    def _on_result(self, task: str, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            latency = float(data['latency_ms'])
            design = str(data['design'])
        except (ValueError, KeyError, TypeError) as exc:
            self._log.warn(f'result-{task}', f'dropped malformed result of {task}: {exc}')
            return
        link = self._links[task]
        now = time.time()
        link.serving = design
        link.latencies.append(latency)
        link.stamps.append(now)
        with self._lock:
            current = self._policy.design
            if current is not None and current.for_task(task).key == design:
                # Only the design the policy believes runs tells about its processor.
                raised = self._policy.observe_latency(task, latency, now)
            else:
                raised = False
        if raised:
            self.get_logger().warning(f'{task}: observed latency violates its SLO window after '
                                      f'window on {design}: treating its processor as '
                                      f'overloaded')
            with self._lock:
                decision = self._policy.decide(now)
            self._apply(decision, f'closed loop: {task} latency SLO violated')

    def _on_switch_event(self, task: str, msg: String) -> None:
        try:
            data = json.loads(msg.data)
            status, design = str(data['status']), str(data['design'])
        except (ValueError, KeyError, TypeError) as exc:
            self._log.warn(f'switch-{task}', f'dropped malformed switch event: {exc}')
            return
        link = self._links[task]
        now = time.time()
        entry = {'kind': 'switch_done', 'task': task, 'design': design, 'status': status,
                 'build_ms': data.get('build_ms'), 'error': data.get('error')}
        if link.requested_at:
            entry['since_request_ms'] = round((now - link.requested_at) * 1e3, 1)
        self._publish_switch(entry)
        if status == 'failed':
            processor = design.partition('@')[2]
            what = 'serving' if data.get('kind') == 'serving_failed' else 'switch to'
            try:
                with self._lock:
                    hold = self._policy.report_failure(processor, now)
                    decision = self._policy.decide(now)
            except EventError as exc:
                self._log.warn('unknown-proc', f'cannot mark {processor} unavailable: {exc}')
                return
            self.get_logger().error(f'{task}: {what} {design} failed ({data.get("error")}): '
                                    f'{processor} unavailable for {hold:g} s')
            self._publish_switch({'kind': 'processor_failed', 'task': task, 'design': design,
                                  'processor': processor, 'hold_s': hold,
                                  'cause': data.get('kind') or 'switch_failed'})
            if data.get('kind') != 'serving_failed':
                link.confirmed = ''  # the node reverted its parameter
            self._apply(decision, f'{task}: {processor} failed')

    def _tick(self) -> None:
        age = time.monotonic() - self._last_sample
        if age > self._stale_after and not self._stale:
            self._stale = True
            with self._lock:
                design = self._policy.design
            kept = design.as_dict() if design is not None else {}
            self.get_logger().warning(f'no device state for {age:.1f} s (resource monitor '
                                      f'silent?): device state stale, keeping {kept}')
            self._publish_switch({'kind': 'device_state_stale', 'age_s': round(age, 2),
                                  'kept': kept})
        if not self._stale:
            # Stale device state: events are not re-evaluated, the current design stays.
            with self._lock:
                decision = self._policy.decide(time.time())
            self._apply(decision, 'event expired')
        self._verify()
        self._reconcile()

    def _verify(self) -> None:
        """Read back each task node's design; a node that lost it (restarted) gets it again."""
        if not self._verify_period or time.monotonic() < self._next_verify:
            return
        self._next_verify = time.monotonic() + self._verify_period
        now = time.monotonic()
        for link in self._links.values():
            if link.verifying and now - link.verify_started > REQUEST_TIMEOUT_S:
                link.verifying = False  # the request went to a node that died: ask again
            if link.in_flight or not link.confirmed or link.confirmed != link.desired or \
                    link.confirmed == link.rejected or link.verifying or \
                    not link.client.services_are_ready():
                continue
            link.verifying, link.verify_started = True, now
            fut = link.client.get_parameters(['design'])
            fut.add_done_callback(lambda f, link=link: self._verified(link, f))

    def _verified(self, link: TaskLink, fut: Any) -> None:
        link.verifying = False
        try:
            value = fut.result().values[0].string_value
        except Exception as exc:
            self._log.warn(f'verify-{link.node}', f'reading the design of {link.node} failed: '
                                                  f'{exc}')
            return
        if link.in_flight or not link.confirmed or value == link.confirmed:
            return
        self.get_logger().warning(f'{link.node} serves {value or "its default design"}, not '
                                  f'{link.confirmed} (restarted?): re-applying its design')
        self._publish_switch({'kind': 'design_reapplied', 'task': link.task,
                              'found': value, 'design': link.confirmed})
        link.confirmed = ''
        link.standby_sent = ()  # a restarted node has lost its standby list too

    # -- switching -----------------------------------------------------------------------------
    def _apply(self, decision: Decision, why: str, force: bool = False) -> None:
        changed = decision.changed or force or self._last_decision is None or \
            decision.events != self._last_decision.events
        self._last_decision = decision
        if not changed:
            return
        events = sorted(e.key for e in decision.events)
        self._events_pub.publish(String(data=json.dumps({'stamp': decision.stamp,
                                                         'events': events})))
        if decision.design is None:
            self._log.warn('nodesign', f'no design for events {events}: keeping current')
            return
        designs = decision.design.as_dict()
        self._active_pub.publish(String(data=json.dumps({
            'stamp': decision.stamp, 'events': events, 'designs': designs,
            'feasible': decision.feasible, 'precomputed': decision.precomputed,
            'score': decision.score, 'decision_ms': round(decision.decision_time_s * 1e3, 3),
            'decision_cpu_ms': round(decision.decision_cpu_s * 1e3, 3),
            'reason': why})))
        with self._lock:
            design_set = self._policy.design_set
        self._set_standby(design_set, decision.events)
        for task, key in designs.items():
            link = self._links.get(task)
            if link is not None and link.desired != key:
                link.desired, link.reason = key, why
                self.get_logger().info(f'{task}: {link.confirmed or "?"} -> {key} ({why}; '
                                       f'events: {", ".join(events) or "none"})')
        self._reconcile()

    def _warm(self, design_set: DesignSet) -> None:
        """Evaluate the event sets one event beyond the precomputed ones in the background,
        so that every lookup the policy makes is a dict access (CARIn only: the static
        strategy never looks up, the OODIn-style one re-solves by design)."""
        if self._strategy is not Strategy.CARIN:
            return

        def warm() -> None:
            t0 = time.perf_counter()
            n = design_set.warm_fallbacks(stop=lambda: self._policy.design_set is not design_set)
            self.get_logger().info(f'design set: {n} more event sets answered in advance in '
                                   f'{time.perf_counter() - t0:.2f} s')
        threading.Thread(target=warm, name='carin-warm', daemon=True).start()

    def _set_standby(self, design_set: DesignSet, events: frozenset = frozenset()) -> None:
        """Tell each task node which designs of the design set to keep warm (its likeliest
        answers), so that a switch to one needs no build. Only CARIn knows its answers in
        advance: the static and OODIn-style strategies send none. Under memory pressure the
        lists are emptied: spares hold memory the design's own figures do not count."""
        for task, link in self._links.items():
            designs = standby_designs(design_set, task, events, STANDBY_LIST_MAX) \
                if self._strategy is Strategy.CARIN else []
            link.standby = tuple(d.key for d in designs)

    def _reconcile_standby(self, link: TaskLink) -> None:
        if link.in_flight or link.standby_in_flight or link.standby == link.standby_sent or \
                link.desired != link.confirmed or not link.client.services_are_ready():
            return
        link.standby_in_flight = True
        value = link.standby
        fut = link.client.set_parameters([Parameter('standby', value=list(value) or [''])])

        def done(f: Any) -> None:
            link.standby_in_flight = False
            link.standby_sent = value  # sent once per list: a rejection is not retried
            try:
                result = f.result().results[0]
            except Exception as exc:
                self._log.warn(f'standby-{link.node}', f'setting standby on {link.node} '
                                                       f'failed: {exc}')
                link.standby_sent = ()
                return
            if not result.successful:
                self.get_logger().error(f'{link.node} rejected standby {list(value)}: '
                                        f'{result.reason}')
        fut.add_done_callback(done)

    def _reconcile(self) -> None:
        """Send each task node its desired design until it has accepted it, then its
        standby list."""
        for link in self._links.values():
            if link.in_flight and time.time() - link.requested_at > REQUEST_TIMEOUT_S:
                # No answer (the node died after the request was sent): send it again.
                self._log.warn(f'timeout-{link.node}', f'{link.node} did not answer the design '
                                                       f'request: retrying')
                link.in_flight = False
            if link.in_flight or not link.desired or link.desired == link.confirmed:
                continue
            if not link.client.services_are_ready():
                self._log.warn(f'wait-{link.node}', f'waiting for task node {link.node}')
                continue
            link.in_flight = True
            link.requested_at = time.time()
            key = link.desired
            fut = link.client.set_parameters([Parameter('design', value=key)])
            fut.add_done_callback(lambda f, link=link, key=key: self._set_done(link, key, f))
        for link in self._links.values():
            self._reconcile_standby(link)

    def _set_done(self, link: TaskLink, key: str, fut: Any) -> None:
        link.in_flight = False
        try:
            result = fut.result().results[0]
        except Exception as exc:
            self._log.warn(f'set-{link.node}', f'setting design on {link.node} failed: {exc}')
            return
        if result.successful:
            link.confirmed = key
            self._publish_switch({'kind': 'switch_requested', 'task': link.task, 'design': key,
                                  'reason': link.reason,
                                  'ack_ms': round((time.time() - link.requested_at) * 1e3, 1)})
        else:
            self.get_logger().error(f'{link.node} rejected design {key}: {result.reason}')
            link.confirmed = link.rejected = key  # do not retry a rejected design in a loop

    def _publish_switch(self, entry: dict) -> None:
        entry = {'stamp': time.time(), **entry}
        self._switch_pub.publish(String(data=json.dumps(entry)))

    # -- status --------------------------------------------------------------------------------
    def _publish_status(self) -> None:
        spec = self._spec
        out: dict[str, Any] = {'stamp': time.time(), 'tasks': {}, 'met': True}
        for task, link in self._links.items():
            lat = np.array(link.latencies, dtype=float)
            checks = []
            for c in spec.constraints:
                if c.scope not in (task, APP) or not (c.metric.is_latency or
                                                      c.metric is Metric.THROUGHPUT):
                    continue
                observed = _observed(c.metric, lat, list(link.stamps))
                met = None if observed is None else c.satisfied(observed)
                checks.append({'constraint': str(c), 'observed': observed, 'met': met})
                if met is False:
                    out['met'] = False
            out['tasks'][task] = {'design': link.serving or link.confirmed,
                                  'samples': int(lat.size), 'checks': checks,
                                  'met': all(ch['met'] is not False for ch in checks)}
        out['diagnostics_dropped'] = self._diag_drops
        age = time.monotonic() - self._last_sample
        out['device_state'] = {'stale': self._stale, 'age_s': round(age, 2)}
        if self._infeasible:
            out['met'] = False
            out['infeasible'] = self._infeasible
        self._status_pub.publish(String(data=json.dumps(out)))

    def _get_design_set(self, request: Trigger.Request, response: Trigger.Response
                        ) -> Trigger.Response:
        with self._lock:
            design_set = self._policy.design_set
            current = self._policy.current
        response.success = True
        response.message = yaml.safe_dump({
            'current': {'events': sorted(e.key for e in current.events),
                        'designs': current.design.as_dict() if current.design else None,
                        'event_set': event_key(current.events)},
            'design_set': design_set.to_dict()}, sort_keys=False)
        return response


def check_zoo_version(db: ProfileDB, db_path: str, model_dir: str) -> None:
    """Refuse a profile database measured on another zoo version than the one deployed.

    ``model_dir`` 'none' skips the check; empty uses the default zoo when one is built.
    """
    if model_dir == 'none':
        return
    from carin_ros.zoo.manifest import Zoo, ZooError, default_model_dir
    folder = model_dir or default_model_dir()
    if not model_dir and not os.path.isfile(os.path.join(folder, 'manifest.yaml')):
        return
    try:
        zoo = Zoo.load(folder)
    except ZooError as exc:
        raise ValueError(f'carin_manager: cannot check the zoo version: {exc}') from exc
    if db.zoo_version and zoo.version and db.zoo_version != zoo.version:
        raise ValueError(f'carin_manager: profile database {db_path} was measured on zoo '
                         f'version {db.zoo_version}, but the zoo at {zoo.root} is version '
                         f'{zoo.version}: re-profile (carin-profile) or deploy the matching zoo')


def _observed(metric: Metric, latencies: np.ndarray, stamps: list[float]) -> float | None:
    """The observed value of a latency or throughput metric over the recent window."""
    if metric is Metric.THROUGHPUT:
        if len(stamps) < 2 or stamps[-1] <= stamps[0]:
            return None
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])
    if latencies.size == 0:
        return None
    return latency_statistic(latencies, metric)


def main(args: Sequence[str] | None = None) -> int:
    return run(Manager, args)


if __name__ == '__main__':
    sys.exit(main())

"""Shared node plumbing: QoS profiles, the spin-and-shutdown main, parameter descriptors."""
from __future__ import annotations

import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Camera frames: best effort, newest few (the ROS sensor-data profile).
SENSOR_QOS: QoSProfile = qos_profile_sensor_data
# Results, diagnostics, switch log: reliable, a short history.
RELIABLE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
# State a late joiner must see (active designs, SLO status, label info): latched.
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)

DIAGNOSTICS_TOPIC = '/diagnostics'


def float_param(description: str, low: float, high: float, step: float = 0.0,
                read_only: bool = False) -> ParameterDescriptor:
    """A descriptor whose range rclpy itself enforces (rejecting with a reason)."""
    return ParameterDescriptor(description=description, read_only=read_only,
                               floating_point_range=[FloatingPointRange(
                                   from_value=float(low), to_value=float(high), step=step)])


def int_param(description: str, low: int, high: int, read_only: bool = False
              ) -> ParameterDescriptor:
    return ParameterDescriptor(description=description, read_only=read_only,
                               integer_range=[IntegerRange(from_value=low, to_value=high, step=1)])


def text_param(description: str, read_only: bool = False) -> ParameterDescriptor:
    return ParameterDescriptor(description=description, read_only=read_only)


class RateLimitedLog:
    """Logs a repeated problem at most once per ``period_s`` with the count since last time."""

    def __init__(self, node: Node, period_s: float = 5.0) -> None:
        self._node = node
        self._period = period_s
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        self._pending[key] = self._pending.get(key, 0) + 1
        if now - self._last.get(key, -1e9) >= self._period:
            n = self._pending.pop(key)
            more = f' ({n - 1} more since last report)' if n > 1 else ''
            self._node.get_logger().warning(f'{message}{more}')
            self._last[key] = now


_F = TypeVar('_F', bound=Callable[..., Any])


def until_shutdown(node: Node, callback: _F) -> _F:
    """Wrap an executor callback (timer, subscription, service) for the moment of shutdown.

    rclpy's SIGINT handler shuts the context down at once; a callback already running then
    fails to publish (an RCLError out of ``spin``, or "exception was never retrieved" from a
    multi-threaded executor). Such a failure is the node ending, not an error: it is dropped.
    While the context is up every exception propagates as before."""
    @functools.wraps(callback)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except Exception:
            if node.context.ok():
                raise
            return None
    return wrapped  # type: ignore[return-value]


def ignore_interrupts() -> None:
    """Shutdown has begun: further SIGINT/SIGTERM must not cut the clean-up short.

    ``ros2 launch`` forwards Ctrl-C to processes that got it from the terminal already (every
    node sees it twice), and users press it again when shutdown takes a second. A
    KeyboardInterrupt inside ``destroy_node`` or a worker join left tracebacks and, where a
    native thread was still running, aborted the process. A signal already received but not
    yet handled is dropped too: Python looks the handler up when it runs it."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def run(make_node: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """``rclpy.init``, spin ``make_node()`` until shutdown or Ctrl-C, then clean up.

    One executor thread: every callback of these nodes is short (inference, solving and
    builds run on their own threads), and rclpy's MultiThreadedExecutor busy-waits while a
    ready subscription waits for its callback group to be free. At 30 frames/s of 900 kB
    images that loop held a core and the GIL and stalled inference for up to 5 s (task node
    and manager had used 2 and 3 threads; see docs/benchmarks.md, ROS end to end).

    The clean-up ignores further Ctrl-C (:func:`ignore_interrupts`), so one Ctrl-C or several
    end the node with exit code 0 and no traceback."""
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node = None
    executor: Executor = SingleThreadedExecutor()
    try:
        try:
            node = make_node()
        except (ValueError, OSError, RuntimeError, ParameterException) as exc:
            # Bad configuration: one clear line (it names the file and field), exit code 2,
            # nothing left running.
            print(f'error: {exc}', file=sys.stderr, flush=True)
            return 2
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        while True:  # a second Ctrl-C may land before the first statement of the clean-up
            try:
                ignore_interrupts()
                break
            except KeyboardInterrupt:
                continue
        close = getattr(node, 'close', None)
        if callable(close):
            close()
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
        ignore_interrupts()  # try_shutdown put back the handlers rclpy.init replaced
    return 0

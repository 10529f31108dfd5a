"""resource_monitor node: publishes the device sample on /diagnostics at a parameter rate."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from carin_ros.monitor import DeviceSampler
from carin_ros.nodes.common import (
    DIAGNOSTICS_TOPIC,
    RELIABLE_QOS,
    float_param,
    run,
    until_shutdown,
)
from carin_ros.nodes.diagnostics import device_status


class ResourceMonitor(Node):
    """Samples per-core load (own vs external), memory, sensors and GPUs; publishes them."""

    def __init__(self) -> None:
        super().__init__('resource_monitor')
        rate = self.declare_parameter(
            'rate_hz', 4.0, float_param('samples per second; each sample averages the load '
                                        'since the previous one', 0.2, 50.0, read_only=True)
        ).value
        self._sampler = DeviceSampler()
        if self._sampler.gpu_absent_reason:
            self.get_logger().info(f'GPU absent: {self._sampler.gpu_absent_reason}')
        self._pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, RELIABLE_QOS)
        self._timer = self.create_timer(1.0 / rate, until_shutdown(self, self._tick))

    def _tick(self) -> None:
        sample = self._sampler.sample()
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [device_status(sample)]
        self._pub.publish(msg)


def main(args: Sequence[str] | None = None) -> int:
    return run(ResourceMonitor, args)


if __name__ == '__main__':
    sys.exit(main())

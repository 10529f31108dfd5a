"""ROS-free device monitoring: per-core load (own vs external), memory, sensors, GPUs."""
from carin_ros.monitor.keys import (
    ABSENT,
    DEVICE_STATUS_NAME,
    DiagnosticsFormatError,
    sample_from_pairs,
    sample_to_pairs,
)
from carin_ros.monitor.sample import CoreLoad, DeviceSample, GpuLoad
from carin_ros.monitor.sampler import ROLE_ENV, DeviceSampler, GpuProbe, process_role

__all__ = ['ABSENT', 'DEVICE_STATUS_NAME', 'ROLE_ENV', 'CoreLoad', 'DeviceSample',
           'DeviceSampler', 'DiagnosticsFormatError', 'GpuLoad', 'GpuProbe', 'process_role',
           'sample_from_pairs', 'sample_to_pairs']

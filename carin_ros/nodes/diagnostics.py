"""DeviceSample <-> diagnostic_msgs: build the device status, find and parse it back."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from carin_ros.monitor import DEVICE_STATUS_NAME, DeviceSample, sample_from_pairs, sample_to_pairs


def device_status(sample: DeviceSample) -> DiagnosticStatus:
    """One DiagnosticStatus holding every key of the sample (absent sensors say 'absent')."""
    busiest = max(sample.cores, key=lambda c: c.external_pct)
    gpu = 'gpu absent' if sample.gpus is None else f'{len(sample.gpus)} gpu'
    free = 100 * sample.memory_available_fraction
    message = (f'{len(sample.cores)} cores, busiest external core {busiest.core} '
               f'{busiest.external_pct:.0f}%, memory {free:.0f}% available, {gpu}')
    return DiagnosticStatus(level=DiagnosticStatus.OK, name=DEVICE_STATUS_NAME, message=message,
                            hardware_id=sample.hostname,
                            values=[KeyValue(key=k, value=v) for k, v in sample_to_pairs(sample)])


def find_device_sample(msg: DiagnosticArray) -> DeviceSample | None:
    """The device sample in a diagnostics array, or None when it holds no device status.

    Raises :class:`carin_ros.monitor.DiagnosticsFormatError` when the status is malformed.
    """
    for status in msg.status:
        if status.name == DEVICE_STATUS_NAME:
            return sample_from_pairs(((kv.key, kv.value) for kv in status.values),
                                     hostname=status.hardware_id)
    return None

"""The one place for diagnostic key names: DeviceSample <-> (key, value) string pairs.

The resource monitor node publishes these pairs as ``diagnostic_msgs/KeyValue`` entries of a
status named :data:`DEVICE_STATUS_NAME`; the manager parses them back with
:func:`sample_from_pairs`. Absent sensors carry the value :data:`ABSENT`, never ``0``.
"""
from __future__ import annotations

from collections.abc import Iterable

from carin_ros.monitor.sample import CoreLoad, DeviceSample, GpuLoad

DEVICE_STATUS_NAME = 'carin_ros: device'
ABSENT = 'absent'


class DiagnosticsFormatError(ValueError):
    """A device status whose key/value pairs cannot be read back; names the key."""


def _fmt(value: float | None) -> str:
    return ABSENT if value is None else f'{value:.3f}'


def sample_to_pairs(sample: DeviceSample) -> list[tuple[str, str]]:
    """The key/value pairs of one sample, in a stable order."""
    pairs = [('stamp', f'{sample.stamp:.6f}'), ('window_s', f'{sample.window_s:.4f}'),
             ('cpu.count', str(len(sample.cores)))]
    for c in sample.cores:
        pairs += [(f'cpu.{c.core}.total_pct', _fmt(c.total_pct)),
                  (f'cpu.{c.core}.own_pct', _fmt(c.own_pct)),
                  (f'cpu.{c.core}.external_pct', _fmt(c.external_pct))]
    pairs += [('memory.total_mb', _fmt(sample.memory_total_mb)),
              ('memory.available_mb', _fmt(sample.memory_available_mb)),
              ('temperature_c', _fmt(sample.temperature_c)),
              ('battery.pct', _fmt(sample.battery_pct)),
              ('battery.plugged', ABSENT if sample.battery_plugged is None
               else str(sample.battery_plugged).lower())]
    if sample.gpus is None:
        pairs.append(('gpu.count', ABSENT))
    else:
        pairs.append(('gpu.count', str(len(sample.gpus))))
        for g in sample.gpus:
            pairs += [(f'gpu.{g.index}.name', g.name),
                      (f'gpu.{g.index}.util_pct', _fmt(g.util_pct)),
                      (f'gpu.{g.index}.memory_used_mb', _fmt(g.memory_used_mb)),
                      (f'gpu.{g.index}.memory_total_mb', _fmt(g.memory_total_mb)),
                      (f'gpu.{g.index}.temperature_c', _fmt(g.temperature_c))]
    return pairs


class _Reader:
    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.values: dict[str, str] = {}
        for key, value in pairs:
            self.values[str(key)] = str(value)

    def raw(self, key: str) -> str:
        try:
            return self.values[key]
        except KeyError:
            raise DiagnosticsFormatError(f'device status lacks key {key!r}') from None

    def num(self, key: str) -> float:
        value = self.opt(key)
        if value is None:
            raise DiagnosticsFormatError(f'device status key {key!r} is absent but required')
        return value

    def opt(self, key: str) -> float | None:
        text = self.raw(key)
        if text == ABSENT:
            return None
        try:
            value = float(text)
        except ValueError:
            raise DiagnosticsFormatError(
                f'device status key {key!r}: {text!r} is not a number') from None
        if value != value:
            raise DiagnosticsFormatError(f'device status key {key!r} is NaN')
        return value

    def count(self, key: str) -> int | None:
        value = self.opt(key)
        if value is None:
            return None
        if value < 0 or value != int(value):
            raise DiagnosticsFormatError(f'device status key {key!r}: bad count {value!r}')
        return int(value)


def sample_from_pairs(pairs: Iterable[tuple[str, str]], hostname: str = '') -> DeviceSample:
    """Rebuild a :class:`DeviceSample` from published pairs; raises DiagnosticsFormatError."""
    r = _Reader(pairs)
    n = r.count('cpu.count')
    if n is None:
        raise DiagnosticsFormatError("device status key 'cpu.count' is absent but required")
    cores = tuple(CoreLoad(core=i, total_pct=r.num(f'cpu.{i}.total_pct'),
                           own_pct=r.opt(f'cpu.{i}.own_pct')) for i in range(n))
    plugged_text = r.raw('battery.plugged')
    if plugged_text not in (ABSENT, 'true', 'false'):
        raise DiagnosticsFormatError(f"device status key 'battery.plugged': {plugged_text!r}")
    n_gpu = r.count('gpu.count')
    gpus = None
    if n_gpu is not None:
        gpus = tuple(GpuLoad(index=i, name=r.raw(f'gpu.{i}.name'),
                             util_pct=r.num(f'gpu.{i}.util_pct'),
                             memory_used_mb=r.num(f'gpu.{i}.memory_used_mb'),
                             memory_total_mb=r.num(f'gpu.{i}.memory_total_mb'),
                             temperature_c=r.opt(f'gpu.{i}.temperature_c'))
                     for i in range(n_gpu))
    return DeviceSample(stamp=r.num('stamp'), hostname=hostname, window_s=r.num('window_s'),
                        cores=cores, memory_total_mb=r.num('memory.total_mb'),
                        memory_available_mb=r.num('memory.available_mb'),
                        temperature_c=r.opt('temperature_c'), battery_pct=r.opt('battery.pct'),
                        battery_plugged=None if plugged_text == ABSENT
                        else plugged_text == 'true', gpus=gpus)

"""What one look at the device found: per-core load (own vs external), memory, sensors, GPUs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CoreLoad:
    """Load of one logical CPU core over the last sampling window, in percent (0..100).

    ``own_pct`` is the part that carin_ros's own processes spent on this core (approximate:
    see :mod:`carin_ros.monitor.sampler`); ``None`` when it could not be measured.
    """

    core: int
    total_pct: float
    own_pct: float | None = None

    @property
    def external_pct(self) -> float:
        """Load from processes that are not carin's (all of it when own load is unknown)."""
        if self.own_pct is None:
            return self.total_pct
        return max(0.0, self.total_pct - self.own_pct)


@dataclass(frozen=True)
class GpuLoad:
    """One NVIDIA GPU as NVML reports it."""

    index: int
    name: str
    util_pct: float
    memory_used_mb: float
    memory_total_mb: float
    temperature_c: float | None = None


@dataclass(frozen=True)
class DeviceSample:
    """A snapshot of the device. Absent sensors are ``None``, never zero.

    ``gpus`` is ``None`` when NVML is absent (no NVIDIA driver) and an empty tuple when NVML
    works but lists no GPU. ``window_s`` is the time the per-core loads were averaged over.
    """

    stamp: float
    hostname: str
    window_s: float
    cores: tuple[CoreLoad, ...]
    memory_total_mb: float
    memory_available_mb: float
    temperature_c: float | None = None
    battery_pct: float | None = None
    battery_plugged: bool | None = None
    gpus: tuple[GpuLoad, ...] | None = None

    @property
    def memory_available_fraction(self) -> float:
        if self.memory_total_mb <= 0:
            return 0.0
        return self.memory_available_mb / self.memory_total_mb

    def core(self, index: int) -> CoreLoad:
        for c in self.cores:
            if c.core == index:
                return c
        raise KeyError(f'no core {index} in sample (cores: {[c.core for c in self.cores]})')

"""Samples the device (psutil, /proc, NVML) and splits per-core load into own and external.

Method for the own/external split (Linux): carin_ros processes are those whose environment
holds ``CARIN_ROLE`` (the demo, the launch file and the test harness set it) or whose command
line runs a carin_ros node (``-m carin_ros.nodes.x`` or ``<prefix>/lib/carin_ros/x``); any
process can be named explicitly with ``own_pids``. At each sample the CPU time (utime + stime,
from ``/proc/<pid>/task/<tid>/stat``) of every thread of those processes is differenced
against the previous sample and credited to the core the thread last ran on (field
``processor`` of the same file). The per-core total comes from
``psutil.cpu_times(percpu=True)``; external = total - own, floored at 0.

This is exact for threads pinned to one core (the inference worker threads are pinned to their
processor's cores) and approximate for unpinned threads that migrated during the window; threads
born during a window are counted from the next one; the clock-tick resolution (usually 10 ms)
limits precision to about ``100 * tick / window`` percent. Off Linux the own part is ``None``
(the whole load counts as external).
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

from carin_ros.monitor.sample import CoreLoad, DeviceSample, GpuLoad

ROLE_ENV = 'CARIN_ROLE'
_LOG = logging.getLogger(__name__)
_PROC = '/proc'


@dataclass(frozen=True)
class _ThreadTime:
    ticks: int
    core: int


def _read_thread_stat(path: str) -> _ThreadTime | None:
    """utime+stime (clock ticks) and last CPU of one thread; None when it vanished."""
    try:
        with open(path, encoding='ascii', errors='replace') as f:
            text = f.read()
    except OSError:
        return None
    # "tid (comm) state ..." where comm may hold spaces or parentheses: split at the last ')'.
    rest = text[text.rfind(')') + 2:].split()
    try:
        return _ThreadTime(ticks=int(rest[11]) + int(rest[12]), core=int(rest[36]))
    except (IndexError, ValueError):
        return None


# Command-line fragments that mark a carin_ros node started without CARIN_ROLE (``ros2 run``
# runs ``<prefix>/lib/carin_ros/<node>``; the harness and demo run ``-m carin_ros.nodes.<node>``).
CMDLINE_MARKERS = ('carin_ros.nodes.', '/lib/carin_ros/')


def process_role(pid: int) -> str | None:
    """The ``CARIN_ROLE`` value in a process's environment, or None (absent or unreadable)."""
    try:
        with open(os.path.join(_PROC, str(pid), 'environ'), 'rb') as f:
            env = f.read()
    except OSError:
        return None
    prefix = ROLE_ENV.encode() + b'='
    for item in env.split(b'\0'):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors='replace')
    return None


def _cmdline_marked(pid: int) -> bool:
    try:
        with open(os.path.join(_PROC, str(pid), 'cmdline'), 'rb') as f:
            argv = f.read().decode(errors='replace').split('\0')
    except OSError:
        return False
    return any(m in arg for arg in argv[:3] for m in CMDLINE_MARKERS)


class GpuProbe:
    """NVIDIA GPUs through nvidia-ml-py; ``absent`` when the library or driver is missing."""

    def __init__(self) -> None:
        self._nvml = None
        self.absent_reason: str | None = None
        try:
            import pynvml
            pynvml.nvmlInit()
            self._nvml = pynvml
        except ImportError:
            self.absent_reason = 'nvidia-ml-py not installed'
        except Exception as exc:  # pynvml.NVMLError_LibraryNotFound and friends
            self.absent_reason = f'NVML unavailable: {type(exc).__name__}'

    @property
    def absent(self) -> bool:
        return self._nvml is None

    def read(self) -> tuple[GpuLoad, ...] | None:
        nv = self._nvml
        if nv is None:
            return None
        out = []
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                name = nv.nvmlDeviceGetName(h)
                util = nv.nvmlDeviceGetUtilizationRates(h)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                try:
                    temp: float | None = float(nv.nvmlDeviceGetTemperature(
                        h, nv.NVML_TEMPERATURE_GPU))
                except Exception:  # not every board has a sensor
                    temp = None
                out.append(GpuLoad(index=i, name=name if isinstance(name, str) else name.decode(),
                                   util_pct=float(util.gpu),
                                   memory_used_mb=mem.used / 2**20,
                                   memory_total_mb=mem.total / 2**20, temperature_c=temp))
        except Exception as exc:
            _LOG.warning('NVML read failed: %s', exc)
            return None
        return tuple(out)


class DeviceSampler:
    """Takes :class:`DeviceSample` snapshots; each call averages load since the previous one.

    ``own_pids`` (a callable, re-evaluated each sample) adds processes to carin's own set
    besides those marked with ``CARIN_ROLE``; ``detect_roles=False`` turns the marker off.
    """

    def __init__(self, own_pids: Callable[[], Iterable[int]] | None = None,
                 detect_roles: bool = True, gpu: GpuProbe | None = None) -> None:
        self._own_pids = own_pids
        self._detect_roles = detect_roles
        self._linux = os.path.isdir(os.path.join(_PROC, 'self', 'task'))
        self._tick = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100
        self._roles: dict[tuple[int, float], bool] = {}
        self._threads: dict[tuple[int, int], int] = {}
        self._gpu = gpu if gpu is not None else GpuProbe()
        self.hostname = socket.gethostname()
        self._last_cpu = psutil.cpu_times(percpu=True)
        self._own_ticks_since()
        self._last_t = time.monotonic()

    @property
    def gpu_absent_reason(self) -> str | None:
        return self._gpu.absent_reason

    # -- own processes -----------------------------------------------------------------------
    def own_pids(self) -> set[int]:
        """Pids counted as carin's own at this moment."""
        pids: set[int] = set(self._own_pids()) if self._own_pids else set()
        if not (self._detect_roles and self._linux):
            return pids
        alive: dict[tuple[int, float], bool] = {}
        for proc in psutil.process_iter(['pid', 'create_time']):
            key = (proc.info['pid'], proc.info['create_time'] or 0.0)
            marked = self._roles.get(key)
            if marked is None:
                marked = process_role(key[0]) is not None or _cmdline_marked(key[0])
            alive[key] = marked
            if marked:
                pids.add(key[0])
        self._roles = alive  # forget processes that ended (pids get reused)
        return pids

    def _own_ticks_since(self) -> dict[int, int] | None:
        """Own CPU ticks per core since the previous call; None off Linux."""
        if not self._linux:
            return None
        per_core: dict[int, int] = {}
        seen: dict[tuple[int, int], int] = {}
        for pid in self.own_pids():
            task_dir = os.path.join(_PROC, str(pid), 'task')
            try:
                tids = os.listdir(task_dir)
            except OSError:
                continue
            for tid in tids:
                st = _read_thread_stat(os.path.join(task_dir, tid, 'stat'))
                if st is None:
                    continue
                key = (pid, int(tid))
                seen[key] = st.ticks
                before = self._threads.get(key)
                if before is not None and st.ticks >= before:
                    per_core[st.core] = per_core.get(st.core, 0) + st.ticks - before
        self._threads = seen
        return per_core

    # -- sampling ----------------------------------------------------------------------------
    def sample(self) -> DeviceSample:
        now = time.monotonic()
        window = max(now - self._last_t, 1e-6)
        cpu = psutil.cpu_times(percpu=True)
        own = self._own_ticks_since()
        cores = []
        for i, (a, b) in enumerate(zip(self._last_cpu, cpu, strict=False)):
            total = sum(b) - sum(a)
            idle = (b.idle - a.idle) + (getattr(b, 'iowait', 0.0) - getattr(a, 'iowait', 0.0))
            busy_pct = 0.0 if total <= 0 else min(100.0, max(0.0, 100.0 * (total - idle) / total))
            own_pct = None
            if own is not None:
                own_pct = min(100.0, 100.0 * own.get(i, 0) / self._tick / window)
            cores.append(CoreLoad(core=i, total_pct=busy_pct, own_pct=own_pct))
        self._last_cpu, self._last_t = cpu, now
        mem = psutil.virtual_memory()
        battery_pct, plugged = _battery()
        return DeviceSample(stamp=time.time(), hostname=self.hostname, window_s=window,
                            cores=tuple(cores), memory_total_mb=mem.total / 2**20,
                            memory_available_mb=mem.available / 2**20,
                            temperature_c=_temperature(), battery_pct=battery_pct,
                            battery_plugged=plugged, gpus=self._gpu.read())


def _temperature() -> float | None:
    """Hottest current reading of any temperature sensor, or None without sensors."""
    read = getattr(psutil, 'sensors_temperatures', None)
    if read is None:
        return None
    try:
        sensors = read()
    except Exception:  # psutil raises various OSErrors on odd hwmon drivers
        return None
    values = [t.current for entries in sensors.values() for t in entries
              if t.current is not None and t.current == t.current]
    return max(values) if values else None


def _battery() -> tuple[float | None, bool | None]:
    read = getattr(psutil, 'sensors_battery', None)
    if read is None:
        return None, None
    try:
        bat = read()
    except Exception:
        return None, None
    if bat is None:
        return None, None
    return float(bat.percent), bat.power_plugged

"""A reproducible external CPU load: busy-loop processes pinned to given cores.

Run ``python -m carin_ros.monitor.hog --cores 0 --seconds 10``, or :func:`start_hog` from
Python. The hog is started without ``CARIN_ROLE`` so the monitor counts it as external load.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence

from carin_ros.monitor.sampler import ROLE_ENV


def busy_loop(cores: Sequence[int], seconds: float) -> None:
    """Spin on ``cores`` (this process's affinity) for ``seconds`` (forever when <= 0)."""
    if cores and hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, set(cores))
    end = time.monotonic() + seconds if seconds > 0 else float('inf')
    x = 0
    while time.monotonic() < end:
        for _ in range(10000):
            x += 1


def start_hog(core: int, seconds: float = 0.0) -> subprocess.Popen:
    """Start one busy-loop process pinned to ``core``; the caller kills (or waits for) it."""
    if core < 0 or core >= (os.cpu_count() or 1):
        raise ValueError(f'hog core {core} out of range 0..{(os.cpu_count() or 1) - 1}')
    env = {k: v for k, v in os.environ.items() if k != ROLE_ENV}
    return subprocess.Popen([sys.executable, '-m', 'carin_ros.monitor.hog', '--cores', str(core),
                             '--seconds', str(seconds)], env=env, stdin=subprocess.DEVNULL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cores', type=int, nargs='+', required=True)
    parser.add_argument('--seconds', type=float, default=0.0, help='<= 0: until killed')
    args = parser.parse_args(argv)
    n = os.cpu_count() or 1
    bad = [c for c in args.cores if not 0 <= c < n]
    if bad:
        parser.error(f'cores {bad} out of range 0..{n - 1}')
    try:
        busy_loop(args.cores, args.seconds)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())

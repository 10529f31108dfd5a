"""A quick real profile of a few designs (carin-profile --quick) for the hog test and bench."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence


def quick_profile(out: str, tasks: Sequence[str], variants: Sequence[str],
                  processors: Sequence[str], model_dir: str = '', timeout_s: float = 600.0
                  ) -> str:
    """Measure ``variants`` of ``tasks`` on ``processors`` into ``out`` (no co-runs).

    Runs the profiler CLI in a child process (it spawns its own measurement processes);
    raises RuntimeError with its output when it fails. Returns ``out``.
    """
    cmd = [sys.executable, '-m', 'carin_ros.profiler.cli', '--quick', '--no-coruns',
           '--out', out, '--tasks', *tasks, '--variants', *variants,
           '--processors', *processors, '--device', 'quick-profile']
    if model_dir:
        cmd += ['--model-dir', model_dir]
    env = {k: v for k, v in os.environ.items() if k != 'CARIN_ROLE'}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env,
                          check=False)
    if proc.returncode != 0 or not os.path.isfile(out):
        raise RuntimeError(f'carin-profile failed ({proc.returncode}):\n{proc.stdout[-3000:]}'
                           f'\n{proc.stderr[-3000:]}')
    return out

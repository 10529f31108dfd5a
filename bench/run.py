"""Run every benchmark (`make bench`); each rewrites its own section of docs/benchmarks.md."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Order matters: the engine bench reads the profiles the profiler bench wrote, the evaluation
# reads the profiles, the long run is last. Modules not listed run after these, by name.
ORDER = ('solve', 'zoo', 'profile', 'engine', 'ros', 'evaluation', 'longrun')
NOT_BENCHES = {'__init__', 'report', 'run'}


def benches() -> list[str]:
    found = {f[:-3] for f in os.listdir(HERE) if f.endswith('.py')} - NOT_BENCHES
    return [b for b in ORDER if b in found] + sorted(found - set(ORDER))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('names', nargs='*', help=f'benchmarks to run (default: all of '
                                                 f'{", ".join(benches())})')
    args = parser.parse_args(argv)
    names = args.names or benches()
    unknown = set(names) - set(benches())
    if unknown:
        parser.error(f'unknown benchmarks: {", ".join(sorted(unknown))}')
    failed = []
    for name in names:
        start = time.monotonic()
        print(f'== bench.{name}', flush=True)
        rc = subprocess.call([sys.executable, '-m', f'bench.{name}'], cwd=os.path.dirname(HERE))
        print(f'== bench.{name}: exit {rc} after {time.monotonic() - start:.0f} s', flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f'failed: {", ".join(failed)}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

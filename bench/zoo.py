"""Zoo benchmark: a fresh full build (time, size) and every variant's size and recipe facts."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence

from bench.report import markdown_table, write_section
from carin_ros.zoo.build import build
from carin_ros.zoo.manifest import Zoo, default_model_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, 'models', 'zoo.yaml')


def _dir_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(path)
               for f in fs if not f.startswith('.') and '.stamps' not in dp
               and '.cache' not in dp) / 2**20


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.zoo', description=__doc__)
    parser.add_argument('--reuse', action='store_true',
                        help='describe the built zoo instead of timing a fresh build')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='carin-zoo-bench-') as tmp:
        if args.reuse:
            zoo = Zoo.load(default_model_dir())
            seconds = float(zoo.meta.get('build_seconds', float('nan')))
            how = f'reused build in {zoo.root} (its last build run took {seconds:.0f} s)'
        else:
            t0 = time.perf_counter()
            build(RECIPE, tmp, log=lambda _: None)
            seconds = time.perf_counter() - t0
            zoo = Zoo.load(tmp)
            how = (f'fresh full build into an empty folder: {seconds:.0f} s wall '
                   f'(source archives from the local cache when present)')
        total = _dir_mb(zoo.root)
        rows = []
        for v in zoo.all_variants():
            acc = v.params.get('test_accuracy')
            rows.append([v.task, v.name, v.precision.value, round(v.size_mb, 2),
                         '+'.join(sorted(r for r in v.files if r not in ('labels', 'tokenizer'))),
                         f'{acc:.3f}' if acc is not None else '-'])
        body = (f'{how}; {len(rows)} variants, {total:.0f} MB on disk '
                f'(ONNX files, labels, tokenizer).\n\n'
                + markdown_table(['task', 'variant', 'precision', 'size MB', 'model files',
                                  'held-out accuracy (text)'], rows)
                + '\n\nSize counts the variant\'s model files (a face_analysis variant: its '
                'detector, age and gender networks; int8 keeps the fp32 detector). Accuracy '
                'per variant for every task comes from `carin_ros.zoo.accuracy` '
                '(docs/accuracy.md) through the profiler.')
    write_section('zoo', 'Model zoo: build time and variant sizes', body)
    print(body)


if __name__ == '__main__':
    main()

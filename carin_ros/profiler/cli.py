"""carin-profile: measure every design of the zoo on this device into a profile database."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import yaml

from carin_ros.engine import processors as procs
from carin_ros.profiler.measure import Settings
from carin_ros.profiler.profile import (
    SUMMARY_HEADER,
    ProfileRequest,
    default_profile_path,
    format_table,
    run_profile,
    summary_rows,
)
from carin_ros.profiler.source import SourceSpec, zoo_spec

REPO_SETTINGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'config', 'profiler.yaml')


def load_settings(path: str | None, quick: bool) -> Settings:
    """The ``quick`` or ``full`` section of the settings file (built-in defaults if absent)."""
    section = 'quick' if quick else 'full'
    if path is None:
        if not os.path.isfile(REPO_SETTINGS):
            return Settings(warmup=3, runs=20, samples=4, corun_runs=15, corun_min_s=0.5,
                            timeout_s=300) \
                if quick else Settings()
        path = REPO_SETTINGS
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ValueError(f'{path}: cannot read profiler settings: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ValueError(f'{path}: malformed YAML: {exc}') from exc
    if not isinstance(data, dict) or not isinstance(data.get(section), dict):
        raise ValueError(f'{path}: needs a mapping "{section}" of profiler settings')
    return Settings.from_dict(data[section], source=f'{path}: {section}')


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog='carin-profile', description='Measure latency, memory, size and accuracy of every '
        'design (task x variant x processor) and co-run slowdowns; resumable.')
    ap.add_argument('--out', help='profile database YAML, resumed if it exists (default: '
                    'config/profiles/<device>.yaml)')
    ap.add_argument('--tasks', nargs='+', help='tasks to profile (default: all)')
    ap.add_argument('--variants', nargs='+', help='variant names to profile (default: all)')
    ap.add_argument('--processors', nargs='+', help='processor names (default: all found)')
    ap.add_argument('--processors-file', help='YAML list of processors replacing discovery')
    ap.add_argument('--quick', action='store_true', help='fewer runs and co-run pairs')
    ap.add_argument('--no-coruns', action='store_true', help='skip co-run measurements')
    ap.add_argument('--model-dir', help='built zoo (default: $CARIN_MODEL_DIR or models/build)')
    ap.add_argument('--source', help='module:callable building a ModelSource from the model '
                    'dir (default: the carin_ros zoo)')
    ap.add_argument('--settings', help=f'settings YAML (default: {REPO_SETTINGS})')
    ap.add_argument('--device', help='device name stored in the database (default: CPU model)')
    ap.add_argument('-v', '--verbose', action='store_true')
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format='%(levelname)s %(name)s: %(message)s')
    try:
        settings = load_settings(args.settings, args.quick)
        found = procs.available_processors(args.processors_file)
        chosen = procs.select(found, args.processors)
        spec = SourceSpec(args.source, (args.model_dir,)) if args.source else zoo_spec(
            args.model_dir)
        args.out = args.out or default_profile_path()
        req = ProfileRequest(source=spec, out=args.out, processors=chosen,
                             tasks=tuple(args.tasks) if args.tasks else None,
                             variants=tuple(args.variants) if args.variants else None,
                             settings=settings, quick=args.quick, coruns=not args.no_coruns,
                             device=args.device)
        report = run_profile(req)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f'carin-profile: error: {exc}', file=sys.stderr)
        return 2
    print(format_table(SUMMARY_HEADER, summary_rows(report.db)))
    if report.db.coruns:
        print()
        print(format_table(['a', 'b', 'slowdown a', 'slowdown b'], [
            [f'{c.a.task}/{c.a.key}', f'{c.b.task}/{c.b.key}', c.slowdown_a, c.slowdown_b]
            for c in report.db.coruns]))
    print(f'\n{report.measured} measured, {report.skipped} already in {args.out}, '
          f'{len(report.failed)} failed')
    for what, err in report.failed:
        print(f'FAILED {what}: {err.splitlines()[0]}', file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == '__main__':
    sys.exit(main())

"""carin-solve: solve the design set for measured profiles and an SLO spec, print, save, plot."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

from carin_ros.core.events import EventError, EventModel, parse_event_set
from carin_ros.core.profiles import Metric, ProfileDB, ProfileError
from carin_ros.core.rass import Answer, DesignSet, InfeasibleSLOError, solve
from carin_ros.core.slo import APP, Direction, SloError, SloSpec

EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3
DEFAULT_EVENT_MODEL = os.path.join('config', 'events.yaml')


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='carin-solve',
        description='Solve the CARIn design set (ranked designs and the answer for every '
                    'anticipated event set) from a profile database and an SLO spec.',
        epilog=f'Exit status: 0 solved, {EXIT_BAD_INPUT} bad input (files, fields, events), '
               f'{EXIT_INFEASIBLE} no design meets the SLOs.')
    p.add_argument('--profiles', required=True, help='profile database YAML (carin-profile)')
    p.add_argument('--slo', required=True, help='SLO spec YAML (see config/slo/)')
    p.add_argument('--event-model', default=None,
                   help=f'event model YAML (default: {DEFAULT_EVENT_MODEL} when present, '
                        f'else built-in defaults equal to it)')
    p.add_argument('--events', action='append', default=[], metavar='SET',
                   help='also show the answer for this event set, e.g. '
                        'overload:cpu0,memory:high (repeatable; sets beyond the precomputed '
                        'ones use the runtime fallback)')
    p.add_argument('--max-events', type=int, default=2,
                   help='precompute event sets of up to this many simultaneous events')
    p.add_argument('--keep', type=int, default=50, help='ranked designs kept in the set')
    p.add_argument('--all', action='store_true', help='print every precomputed event set')
    p.add_argument('--out', help='write the design set YAML here')
    p.add_argument('--plot', help='write a PNG of the Pareto front of the two main objectives')
    return p


def _fmt(v: float) -> str:
    return f'{v:.4g}'


def answer_row(ds: DesignSet, a: Answer) -> list[str]:
    design = '-' if a.design is None else ', '.join(
        f'{d.task}={d.key}' for d in a.design.designs)
    status = 'ok' if a.feasible else ('NONE' if a.design is None else 'closest')
    if not a.precomputed:
        status += ' (fallback)'
    cells = [a.key, status, f'{a.score:.3f}', design]
    for o in ds.spec.objectives:
        cells.append('-' if a.metrics is None else _fmt(a.metrics.value(o.scope, o.metric)))
    cells.append('-' if a.metrics is None else _fmt(a.metrics.value(APP, Metric.LATENCY_P90)))
    cells.append('-' if a.metrics is None else _fmt(a.metrics.value(APP, Metric.MEMORY)))
    return cells


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = '  '.join('{:<' + str(w) + '}' for w in widths)
    out = [line.format(*header), line.format(*('-' * w for w in widths))]
    out += [line.format(*r) for r in rows]
    return '\n'.join(out)


def report(ds: DesignSet, extra: Sequence[Answer], show_all: bool) -> str:
    s = ds.stats
    head = (f'device {ds.device}: {s.space_size} joint designs, {s.pruned_size} after pruning, '
            f'{s.candidates} feasible without events; {s.event_sets} event sets solved in '
            f'{s.solve_time_s * 1000:.1f} ms')
    header = ['events', 'status', 'score', 'design', *(o.name for o in ds.spec.objectives),
              'app.latency_p90_ms', 'app.memory_mb']
    answers = sorted(ds.answers.values(), key=lambda a: (len(a.events), a.key))
    if not show_all:
        answers = [a for a in answers if len(a.events) <= 1]
    rows = [answer_row(ds, a) for a in answers] + [answer_row(ds, a) for a in extra]
    lines = [head, '', table(header, rows)]
    hidden = len(ds.answers) - len(answers)
    if hidden:
        lines.append(f'({hidden} event sets of 2+ events not shown; --all shows them)')
    return '\n'.join(lines)


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Rows of ``points`` (to maximise on every column) that no other row dominates."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        dominated = np.all(points >= points[i], axis=1) & np.any(points > points[i], axis=1)
        if dominated.any():
            keep[i] = False
    return keep


def plot(ds: DesignSet, path: str) -> None:
    """Scatter of the feasible designs on the two highest-weight objectives, the Pareto front,
    and the designs of the set (primary starred)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    objectives = list(ds.spec.objectives)
    order = sorted(range(len(objectives)), key=lambda k: -objectives[k].weight)[:2]
    front = ds.front if ds.front is not None else np.zeros((0, len(objectives)))
    fig, ax = plt.subplots(figsize=(7, 5))
    if len(order) == 1:
        k = order[0]
        ax.scatter(np.arange(len(front)), np.sort(front[:, k]), s=6, c='0.6',
                   label='feasible designs')
        ax.set_xlabel('design (sorted)')
        ax.set_ylabel(objectives[k].name)
    else:
        kx, ky = order
        signs = np.array([1.0 if objectives[k].direction is Direction.MAX else -1.0
                          for k in (kx, ky)])
        pts = front[:, [kx, ky]]
        ax.scatter(pts[:, 0], pts[:, 1], s=6, c='0.7', label='feasible designs')
        if len(pts):
            mask = pareto_mask(pts * signs)
            fr = pts[mask]
            fr = fr[np.argsort(fr[:, 0])]
            ax.plot(fr[:, 0], fr[:, 1], '-o', ms=3, c='tab:blue', label='Pareto front')
        shown = set()
        for a in sorted(ds.answers.values(), key=lambda a: len(a.events)):
            if a.design is None or a.design in shown or len(a.events) > 1:
                continue
            shown.add(a.design)
            m = ds.designs[a.design]
            x = m.value(objectives[kx].scope, objectives[kx].metric)
            y = m.value(objectives[ky].scope, objectives[ky].metric)
            primary = not a.events
            ax.scatter([x], [y], s=120 if primary else 40, marker='*' if primary else 'D',
                       c='tab:red' if primary else 'tab:orange', zorder=3,
                       label='primary' if primary else None)
            ax.annotate(a.key, (x, y), fontsize=6, xytext=(3, 3), textcoords='offset points')
        ax.set_xlabel(f'{objectives[kx].name} ({objectives[kx].direction})')
        ax.set_ylabel(f'{objectives[ky].name} ({objectives[ky].direction})')
    ax.set_title(f'CARIn design set on {ds.device} (no-event metrics)')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        db = ProfileDB.load(args.profiles)
        spec = SloSpec.load(args.slo)
        model_path = args.event_model or (DEFAULT_EVENT_MODEL if os.path.exists(
            DEFAULT_EVENT_MODEL) else None)
        model = EventModel.load(model_path) if model_path else EventModel()
        extra_sets = [parse_event_set(text) for text in args.events]
        if args.max_events < 0 or args.keep < 1:
            raise ValueError('--max-events must be >= 0 and --keep >= 1')
        ds = solve(db, spec, model, max_simultaneous=args.max_events, keep=args.keep)
        extra = [ds.lookup(events) for events in extra_sets]
    except InfeasibleSLOError as exc:
        print(f'carin-solve: infeasible: {exc}', file=sys.stderr)
        return EXIT_INFEASIBLE
    except (ProfileError, SloError, EventError, ValueError, KeyError) as exc:
        print(f'carin-solve: error: {exc}', file=sys.stderr)
        return EXIT_BAD_INPUT
    print(report(ds, extra, args.all))
    if args.out:
        ds.save(args.out)
        print(f'\nwrote {args.out}')
    if args.plot:
        plot(ds, args.plot)
        print(f'wrote {args.plot}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

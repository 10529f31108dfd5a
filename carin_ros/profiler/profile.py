"""Profile a device: plan designs and co-run pairs, measure each in fresh processes, save."""
from __future__ import annotations

import datetime
import itertools
import logging
import os
import platform
import re
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

import onnxruntime as ort

from carin_ros.core.profiles import CoRun, Metrics, ProfileDB
from carin_ros.core.space import Design, Processor, Variant
from carin_ros.profiler.measure import (
    CoRunMeasurement,
    DesignMeasurement,
    ProfileRunError,
    Settings,
    measure_corun,
    measure_design_isolated,
)
from carin_ros.profiler.progress import Progress
from carin_ros.profiler.source import Accuracy, SourceSpec

log = logging.getLogger(__name__)


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux), else ``platform.processor()``."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.lower().startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name() -> str:
    """A readable device name: CPU model and core count, e.g. ``AMD EPYC 7B13 x2``."""
    return f'{cpu_model()} x{_n_cores()}'


def device_slug(name: str | None = None) -> str:
    """A file-name form of the device name: ``amd-epyc-7b13-x2``."""
    slug = re.sub(r'[^a-z0-9]+', '-', (name or device_name()).lower()).strip('-')
    return slug or 'device'


def default_profile_path(root: str | None = None) -> str:
    """``config/profiles/<device slug>.yaml`` under ``root`` (default: the repository)."""
    root = root or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, 'config', 'profiles', f'{device_slug()}.yaml')


def _n_cores() -> int:
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# -- planning ---------------------------------------------------------------------------------
def plan_designs(variants: Sequence[Variant], processors: Sequence[Processor]) -> list[Design]:
    """Every (variant, processor) pair, grouped by variant so accuracy is reused early."""
    return [Design(v.task, v.name, p.name) for v in variants for p in processors]


def corun_placements(processors: Sequence[Processor], quick: bool) -> list[tuple[str, str]]:
    """Representative processor pairs: same core, separate cores, all cores, accelerator+CPU.

    ``quick`` keeps only the first two.
    """
    pinned = [p for p in processors if p.is_cpu and len(p.cores) == 1]
    multi = [p for p in processors if p.is_cpu and (len(p.cores) != 1)]
    accel = [p for p in processors if not p.is_cpu]
    out: list[tuple[str, str]] = []
    if pinned:
        out.append((pinned[0].name, pinned[0].name))            # shared core
    if len(pinned) > 1:
        out.append((pinned[0].name, pinned[1].name))            # separate cores
    if quick:
        return out or [(processors[0].name, processors[0].name)]
    if multi:
        out.append((multi[0].name, multi[0].name))              # both on all cores
    if accel and pinned:
        out.append((accel[0].name, pinned[0].name))             # accelerator beside a core
    if accel:
        out.append((accel[0].name, accel[0].name))              # shared accelerator
    return out or [(processors[0].name, processors[0].name)]


def plan_coruns(variants: Sequence[Variant], sizes: dict[tuple[str, str], float],
                processors: Sequence[Processor], quick: bool) -> list[tuple[Design, Design]]:
    """Pairs of designs of two different tasks.

    Per task the smallest variant (by size on disk) and, unless ``quick``, also the largest;
    for each pair of tasks every combination of those, at each placement of
    :func:`corun_placements`.
    """
    by_task: dict[str, list[Variant]] = {}
    for v in variants:
        by_task.setdefault(v.task, []).append(v)
    reps: dict[str, list[Variant]] = {}
    for task, vs in by_task.items():
        ordered = sorted(vs, key=lambda v: (sizes[(v.task, v.name)], v.name))
        reps[task] = [ordered[0]] if quick or len(ordered) == 1 else [ordered[0], ordered[-1]]
    places = corun_placements(processors, quick)
    pairs = []
    for ta, tb in itertools.combinations(sorted(reps), 2):
        for va in reps[ta]:
            for vb in reps[tb]:
                for pa, pb in places:
                    pairs.append((Design(ta, va.name, pa), Design(tb, vb.name, pb)))
    return pairs


# -- the run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileRequest:
    """What to profile and where to write it."""

    source: SourceSpec
    out: str
    processors: tuple[Processor, ...]
    tasks: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    settings: Settings = Settings()
    quick: bool = False
    coruns: bool = True
    device: str | None = None


@dataclass(frozen=True)
class ProfileReport:
    db: ProfileDB
    measured: int
    skipped: int
    failed: tuple[tuple[str, str], ...]  # (what, error)


MeasureDesign = Callable[[SourceSpec, Design, Processor, Settings, bool], DesignMeasurement]
MeasureCoRun = Callable[[SourceSpec, tuple[Design, Processor], tuple[Design, Processor],
                         Settings], CoRunMeasurement]


def select_variants(all_variants: Sequence[Variant], tasks: Iterable[str] | None,
                    names: Iterable[str] | None) -> list[Variant]:
    """Variants of ``tasks`` (all when None) whose name is in ``names`` (all when None)."""
    chosen = list(all_variants)
    if tasks is not None:
        tasks = list(tasks)
        known = {v.task for v in all_variants}
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise KeyError(f'unknown tasks {unknown} (the source has {sorted(known)})')
        chosen = [v for v in chosen if v.task in tasks]
    if names is not None:
        names = list(names)
        known = {v.name for v in chosen}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise KeyError(f'unknown variants {unknown} (available: {sorted(known)})')
        chosen = [v for v in chosen if v.name in names]
    if not chosen:
        raise KeyError('no variants selected')
    return chosen


def _open_db(req: ProfileRequest, variants: Sequence[Variant], version: str) -> ProfileDB:
    """The existing output (to resume) merged with this run's processors and variants."""
    if os.path.exists(req.out):
        db = ProfileDB.load(req.out)
        if db.zoo_version and version and db.zoo_version != version:
            raise ValueError(f'{req.out}: profiled zoo version {db.zoo_version}, the source is '
                             f'{version}; write to a new file')
        known = {p.name: p for p in db.processors}
        for p in req.processors:
            if p.name in known and known[p.name] != p:
                raise ValueError(f'{req.out}: processor {p.name} was profiled as '
                                 f'{known[p.name].to_dict()}, now {p.to_dict()}; use a new file')
        procs = list(db.processors) + [p for p in req.processors if p.name not in known]
        have = {(v.task, v.name) for v in db.variants}
        vs = list(db.variants) + [v for v in variants if (v.task, v.name) not in have]
        return ProfileDB(db.device, procs, vs, db.entries, db.coruns, n_cores=db.n_cores,
                         zoo_version=db.zoo_version or version, meta=db.meta)
    return ProfileDB(req.device or device_name(), req.processors, variants,
                     n_cores=_n_cores(), zoo_version=version)


def run_profile(req: ProfileRequest, stream: TextIO | None = None,
                measure: MeasureDesign = measure_design_isolated,
                corun: MeasureCoRun = measure_corun) -> ProfileReport:
    """Measure every planned design and co-run that the output file lacks, saving after each."""
    stream = stream if stream is not None else sys.stderr
    source = req.source.build()
    variants = select_variants(source.variants(), req.tasks, req.variants)
    sizes = {(v.task, v.name): source.size_mb(v.task, v.name) for v in variants}
    db = _open_db(req, variants, source.version)
    procs = {p.name: p for p in db.processors}
    designs = plan_designs(variants, req.processors)
    pairs = plan_coruns(variants, sizes, req.processors, req.quick) if req.coruns else []
    todo = [d for d in designs if d not in db]
    todo_pairs = [(a, b) for a, b in pairs if db.corun(a, b) is None]
    skipped = len(designs) - len(todo) + len(pairs) - len(todo_pairs)
    db.meta.update(_meta(req, source.version))
    accuracy_meta: dict = db.meta.setdefault('accuracy', {})
    # Accuracy does not depend on which CPU core runs the model: measure once per variant on
    # the CPU and reuse it (accelerators, which may compute differently, are measured each).
    cpu_accuracy: dict[tuple[str, str], float] = {
        (d.task, d.variant): m.accuracy for d, m in db.entries.items()
        if procs[d.processor].is_cpu}
    failed: list[tuple[str, str]] = []
    progress = Progress(len(todo) + len(todo_pairs), 'measurements', stream)
    if skipped:
        stream.write(f'resuming {req.out}: {skipped} measurements already there\n')
    progress.show('starting')
    for d in todo:
        p = procs[d.processor]
        key = (d.task, d.variant)
        reuse = p.is_cpu and key in cpu_accuracy
        try:
            m = measure(req.source, d, p, req.settings, not reuse)
        except ProfileRunError as exc:
            failed.append((f'{d.task}/{d.key}', str(exc)))
            log.warning('%s', exc)
            db.meta.setdefault('failures', {})[f'{d.task}/{d.key}'] = str(exc).splitlines()[0]
            progress.step(f'{d.task}/{d.key} FAILED')
            continue
        if m.accuracy is not None:
            acc = m.accuracy
            if p.is_cpu:
                cpu_accuracy[key] = acc.value
            accuracy_meta[f'{d.task}/{d.variant}' + ('' if p.is_cpu else f'@{p.name}')] = {
                'value': acc.value, 'method': acc.method, 'n': acc.n}
            value = acc.value
        else:
            value = cpu_accuracy[key]
        db.add(d, _metrics(m, value))
        db.meta.get('failures', {}).pop(f'{d.task}/{d.key}', None)
        db.save(req.out)
        progress.step(f'{d.task}/{d.key} {m.latency.mean_ms:.2f} ms')
    for a, b in todo_pairs:
        what = f'{a.task}/{a.key} + {b.task}/{b.key}'
        try:
            c = corun(req.source, (a, procs[a.processor]), (b, procs[b.processor]),
                      req.settings)
        except ProfileRunError as exc:
            failed.append((what, str(exc)))
            log.warning('%s', exc)
            progress.step(f'{what} FAILED')
            continue
        db.coruns.append(CoRun(a, b, c.slowdown_a, c.slowdown_b))
        db.save(req.out)
        progress.step(f'{what} x{c.slowdown_a:.2f}/x{c.slowdown_b:.2f}')
    progress.finish()
    db.save(req.out)
    return ProfileReport(db, len(todo) + len(todo_pairs) - len(failed), skipped, tuple(failed))


def _metrics(m: DesignMeasurement, accuracy: float) -> Metrics:
    lat = m.latency
    return Metrics(accuracy=min(1.0, max(0.0, accuracy)), latency_mean_ms=lat.mean_ms,
                   latency_std_ms=lat.std_ms, latency_p50_ms=lat.p50_ms,
                   latency_p90_ms=lat.p90_ms, latency_p99_ms=lat.p99_ms,
                   throughput_fps=lat.throughput_fps, memory_mb=m.memory_mb, size_mb=m.size_mb)


def _meta(req: ProfileRequest, version: str) -> dict:
    return {
        'date': datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'host': socket.gethostname(),
        'cpu': cpu_model(),
        'onnxruntime': ort.__version__,
        'python': platform.python_version(),
        'settings': {**req.settings.to_dict(), 'quick': req.quick},
        'method': 'fresh spawned process per design; latency of sequential batch-1 runs '
                  'cycling real sample inputs after warm-up; memory = peak RSS - RSS before '
                  'loading; co-runs: two processes, each alone then both at once',
        'source_version': version,
    }


def summary_rows(db: ProfileDB) -> list[list]:
    rows = []
    for d, m in sorted(db.entries.items()):
        rows.append([d.task, d.variant, d.processor, m.latency_mean_ms, m.latency_p99_ms,
                     m.throughput_fps, m.memory_mb, m.size_mb, m.accuracy])
    return rows


SUMMARY_HEADER = ['task', 'variant', 'processor', 'mean ms', 'p99 ms', 'fps', 'mem MB',
                  'size MB', 'accuracy']


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A fixed-width text table (numbers to 4 significant digits)."""
    def cell(v: object) -> str:
        return f'{v:.4g}' if isinstance(v, float) else str(v)
    cells = [list(header)] + [[cell(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def accuracy_of(db: ProfileDB, task: str, variant: str) -> Accuracy | None:
    """The accuracy record (value, method, n) the profiler stored for a variant, if any."""
    rec = db.meta.get('accuracy', {}).get(f'{task}/{variant}')
    if not rec:
        return None
    return Accuracy(float(rec['value']), str(rec['method']), int(rec['n']))

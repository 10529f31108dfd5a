"""Engine benchmark: per-variant latency/accuracy/size per processor, precision speed ratios,
and the hot-swap stall of the SwitchableRunner with real zoo pipelines."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import markdown_table, write_section
from carin_ros.core.profiles import ProfileDB
from carin_ros.core.space import Design, Precision, Processor, Variant
from carin_ros.engine.processors import discover
from carin_ros.engine.runner import Result, SwitchableRunner, SwitchStatus, zoo_factory
from carin_ros.profiler.cli import load_settings
from carin_ros.profiler.profile import ProfileRequest, default_profile_path, run_profile
from carin_ros.profiler.source import zoo_spec


def ensure_profiles(path: str, model_dir: str | None) -> ProfileDB:
    """The profile DB at ``path``; a quick profile (no co-runs) is measured first if absent."""
    if not os.path.exists(path):
        print(f'{path} absent: measuring a quick profile (carin-profile --quick --no-coruns)',
              file=sys.stderr)
        run_profile(ProfileRequest(zoo_spec(model_dir), path, discover(),
                                   settings=load_settings(None, quick=True), quick=True,
                                   coruns=False))
    return ProfileDB.load(path)


def variant_table(db: ProfileDB) -> str:
    rows = []
    for d, m in sorted(db.entries.items(), key=lambda kv: (kv[0].task, kv[0].variant,
                                                           kv[0].processor)):
        rows.append([d.task, d.variant, d.processor, m.latency_mean_ms, m.latency_p99_ms,
                     m.throughput_fps, m.accuracy, m.size_mb, m.memory_mb])
    return markdown_table(['task', 'variant', 'processor', 'mean ms', 'p99 ms', 'fps',
                           'accuracy', 'size MB', 'memory MB'], rows)


def precision_ratios(db: ProfileDB) -> str:
    """Mean latency of each reduced-precision variant over its arch's fp32, per processor."""
    rows = []
    by_arch: dict[tuple[str, str], dict[Precision, Variant]] = {}
    for v in db.variants:
        by_arch.setdefault((v.task, v.arch), {})[v.precision] = v
    for (task, arch), vs in sorted(by_arch.items()):
        base = vs.get(Precision.FP32)
        if base is None:
            continue
        for prec in (Precision.INT8, Precision.INT8_DYNAMIC, Precision.FP16):
            if prec not in vs:
                continue
            for p in db.processors:
                a, b = Design(task, vs[prec].name, p.name), Design(task, base.name, p.name)
                if a in db and b in db:
                    rows.append([task, arch, f'{prec.value}/fp32', p.name,
                                 db.get(a).latency_mean_ms / db.get(b).latency_mean_ms,
                                 db.get(a).accuracy - db.get(b).accuracy])
    if not rows:
        return '_No arch has both an fp32 and a reduced-precision variant profiled._'
    return markdown_table(['task', 'arch', 'ratio', 'processor', 'latency ratio',
                           'accuracy delta'], rows)


@dataclass(frozen=True)
class SwitchFigure:
    src: Design
    dst: Design
    status: str
    build_ms: float
    served_during: int
    stall_ms: float        # worst request latency (wait + inference) while building
    base_p50_ms: float     # request latency of the old design just before the switch
    base_p99_ms: float
    gap_ms: float          # longest gap between two consecutive completions during switch


def switch_stalls(model_dir: str | None, processors: Sequence[Processor],
                  seconds_between: float = 1.0, builder_nice: int = 5) -> list[SwitchFigure]:
    """Serve the smallest image variant back-to-back and switch designs under load."""
    from carin_ros.zoo.manifest import Zoo
    zoo = Zoo.load(model_dir)
    task = next(t for t in zoo.tasks if zoo.kind(t) == 'image_classification')
    variants = sorted(zoo.variants(task), key=lambda v: (v.size_mb, v.name))
    fp32 = [v for v in variants if v.precision == Precision.FP32]
    int8 = [v for v in variants if v.precision == Precision.INT8]
    a = (fp32 or variants)[0].name
    b = (int8 or variants[1:] or variants)[0].name
    pinned = [p.name for p in processors if p.is_cpu and len(p.cores) == 1] or [
        processors[0].name]
    p0, p1 = pinned[0], pinned[min(1, len(pinned) - 1)]
    plan = [Design(task, a, p0), Design(task, b, p1), Design(task, a, p0),
            Design(task, b, p0), Design(task, a, p0)]
    from carin_ros.engine.tasks import load_pipeline
    sample = load_pipeline(zoo, task, a, processors[0]).example_input()
    results: list[tuple[float, Result]] = []
    stop = threading.Event()
    figures = []
    with SwitchableRunner(task, zoo_factory(zoo), processors, plan[0],
                          builder_nice=builder_nice) as runner:
        def client() -> None:
            while not stop.is_set():
                res = runner.infer(sample, timeout=60)
                results.append((time.perf_counter(), res))
        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        for src, dst in zip(plan, plan[1:], strict=False):
            time.sleep(seconds_between)
            t0 = time.perf_counter()
            before = [r.total_ms for t, r in results if t0 - seconds_between / 2 <= t < t0]
            outcome = runner.switch(dst).result(600)
            t1 = time.perf_counter()
            time.sleep(0.05)
            during = [(t, r) for t, r in results if t0 <= t <= t1 + 0.05]
            stamps = [t0] + [t for t, _ in during]
            gap = max((y - x for x, y in zip(stamps, stamps[1:], strict=False)), default=0.0)
            q = statistics.quantiles(before, n=100) if len(before) >= 2 else [0.0] * 99
            figures.append(SwitchFigure(src, dst, outcome.status.value, outcome.build_ms,
                                        len(during), max((r.total_ms for _, r in during),
                                                         default=0.0),
                                        statistics.median(before) if before else 0.0, q[98],
                                        gap * 1e3))
            assert outcome.status == SwitchStatus.SWITCHED, outcome
        stop.set()
        thread.join(60)
    seqs = [r.seq for _, r in results]
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        raise AssertionError('a request was lost during the switches')
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--profiles', default=default_profile_path(),
                    help='profile DB from carin-profile (measured quickly if absent)')
    ap.add_argument('--model-dir', default=None)
    args = ap.parse_args(argv)
    start = time.monotonic()
    db = ensure_profiles(args.profiles, args.model_dir)
    stall_rows = []
    for nice in (0, 5):
        for f in switch_stalls(args.model_dir, discover(), builder_nice=nice):
            stall_rows.append([f'{f.src.key} -> {f.dst.key}', nice, f.build_ms, f.served_during,
                               f.base_p50_ms, f.base_p99_ms, f.stall_ms, f.gap_ms])
    body = f"""Profiles: `{os.path.relpath(args.profiles)}` (device {db.device}, zoo
{db.zoo_version}, onnxruntime {db.meta.get('onnxruntime', '?')}, settings
{db.meta.get('settings', {})}). The machine was shared with other work while measuring, so
absolute times are noisy; compare ratios within a table. Accuracy is measured once per variant
on the CPU and reused for every CPU processor.

### Latency, accuracy, size and memory per design

{variant_table(db)}

### Reduced precision vs fp32 (latency ratio < 1: faster)

{precision_ratios(db)}

### Hot swap under back-to-back load (SwitchableRunner, real zoo pipelines)

A client thread sends requests back to back while the runner builds and warms the next design
on its builder thread and swaps it in. *stall* is the worst request latency (queue wait +
inference) between the switch request and the swap; *gap* the longest time between two
completed requests in that window; baseline p50/p99 are the old design's request latency in
the half second before. No request was lost (sequence numbers contiguous). *nice*: the
builder thread's nice increment (`builder_nice`; 5 is the default).

{markdown_table(['switch', 'nice', 'build+warm-up ms', 'served during', 'baseline p50 ms',
                 'baseline p99 ms', 'stall ms', 'gap ms'], stall_rows)}

_Took {time.monotonic() - start:.0f} s._
"""
    write_section('engine', 'Inference engine', body)
    print(body)
    return 0


if __name__ == '__main__':
    sys.exit(main())

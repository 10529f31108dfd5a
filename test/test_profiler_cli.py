"""carin-profile end to end on a tiny real zoo: quick run, resumption, output, errors."""
import io
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import yaml
from engine_tiny import TinySource

from carin_ros.core.profiles import ProfileDB
from carin_ros.core.space import Design, Processor, Variant
from carin_ros.profiler import cli
from carin_ros.profiler.measure import Settings, measure_design
from carin_ros.profiler.profile import (
    ProfileRequest,
    corun_placements,
    plan_coruns,
    run_profile,
    select_variants,
)
from carin_ros.profiler.progress import Progress
from carin_ros.profiler.source import SourceSpec
from carin_ros.profiler.stats import LatencyStats

CORES = sorted(os.sched_getaffinity(0))
SPEC_NAME = 'engine_tiny:TinySource'


def test_latency_stats():
    s = LatencyStats.of([1.0, 2.0, 3.0, 4.0], wall_s=0.02)
    assert (s.n, s.mean_ms, s.p50_ms) == (4, 2.5, 2.5)
    assert s.throughput_fps == pytest.approx(200.0)
    assert s.p99_ms == pytest.approx(np.percentile([1, 2, 3, 4], 99))
    with pytest.raises(ValueError):
        LatencyStats.of([])
    with pytest.raises(ValueError):
        LatencyStats.of([1.0, float('nan')])


def test_progress_line_has_eta():
    out = io.StringIO()
    p = Progress(4, 'designs', out)
    p.step('a')
    p.step('b')
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith('[############............] 2/4 designs  50%')
    assert 'eta 0:00' in lines[-1] and lines[-1].endswith('b')
    assert 'eta ?' in Progress(3, 'x', io.StringIO()).line()


def test_planning():
    procs = [Processor(f'cpu{c}', cores=(c,)) for c in (0, 1)] + [
        Processor('cpu', threads=2, cores=(0, 1)), Processor('cuda0', 'CUDAExecutionProvider',
                                                             device_id=0)]
    assert corun_placements(procs, quick=True) == [('cpu0', 'cpu0'), ('cpu0', 'cpu1')]
    assert corun_placements(procs, quick=False) == [
        ('cpu0', 'cpu0'), ('cpu0', 'cpu1'), ('cpu', 'cpu'), ('cuda0', 'cpu0'),
        ('cuda0', 'cuda0')]
    vs = [Variant('a', 'a1', 'x', 'fp32'), Variant('a', 'a2', 'x', 'int8'),
          Variant('a', 'a3', 'x', 'fp16'), Variant('b', 'b1', 'y', 'fp32')]
    sizes = {('a', 'a1'): 4.0, ('a', 'a2'): 1.0, ('a', 'a3'): 2.0, ('b', 'b1'): 3.0}
    quick = plan_coruns(vs, sizes, procs, quick=True)
    assert quick == [(Design('a', 'a2', 'cpu0'), Design('b', 'b1', 'cpu0')),
                     (Design('a', 'a2', 'cpu0'), Design('b', 'b1', 'cpu1'))]
    full = plan_coruns(vs, sizes, procs, quick=False)
    assert len(full) == 2 * 1 * 5 and {a.variant for a, _ in full} == {'a1', 'a2'}
    assert plan_coruns(vs[:3], sizes, procs, quick=False) == []  # one task: no pairs
    with pytest.raises(KeyError, match='unknown tasks'):
        select_variants(vs, ['c'], None)
    with pytest.raises(KeyError, match='unknown variants'):
        select_variants(vs, ['a'], ['b1'])


def test_measure_design_in_process(tmp_path):
    spec = SourceSpec(SPEC_NAME, (str(tmp_path),))
    p = Processor(f'cpu{CORES[0]}', cores=(CORES[0],))
    with ThreadPoolExecutor(1) as pool:  # it pins the calling thread: not pytest's own
        m = pool.submit(measure_design, spec, Design('ta', 'big', p.name), p,
                        Settings(warmup=2, runs=10, samples=3), with_accuracy=True).result()
    assert m.latency.n == 10 and 0 < m.latency.p50_ms <= m.latency.p99_ms
    assert m.size_mb == pytest.approx(os.path.getsize(tmp_path / 'ta_big.onnx') / 2**20)
    assert m.memory_mb >= 0 and 0.0 <= m.accuracy.value <= 1.0 and m.accuracy.n == 32


def test_quick_profile_resume_and_load(tmp_path, capsys):
    zoo, out = str(tmp_path / 'zoo'), str(tmp_path / 'profiles' / 'dev.yaml')
    TinySource(zoo)  # build the models once
    settings = tmp_path / 'settings.yaml'
    settings.write_text(yaml.safe_dump({
        'quick': {'warmup': 2, 'runs': 30, 'samples': 3, 'corun_runs': 6, 'corun_min_s': 0.4,
                  'timeout_s': 120},
        'full': {'warmup': 2, 'runs': 8, 'samples': 3, 'corun_runs': 6, 'corun_min_s': 0.4,
                  'timeout_s': 120}}))
    p0 = f'cpu{CORES[0]}'
    base = ['--source', SPEC_NAME, '--model-dir', zoo, '--out', out, '--settings',
            str(settings), '--quick', '--processors', p0]
    # first run: only task ta's small variant, no co-runs
    assert cli.main(base + ['--tasks', 'ta', '--variants', 'small', '--no-coruns']) == 0
    db = ProfileDB.load(out)
    assert set(db.entries) == {Design('ta', 'small', p0)}
    first = db.get(Design('ta', 'small', p0))
    # second run: everything; the measured design is skipped, co-runs are added
    assert cli.main(base) == 0
    printed = capsys.readouterr().out
    assert '1 already in' in printed and 'slowdown a' in printed
    db = ProfileDB.load(out)
    assert set(db.entries) == {Design(t, v, p0) for t, v in TinySource.LAYOUT}
    assert db.get(Design('ta', 'small', p0)) == first  # not re-measured
    assert db.zoo_version == 'tiny-1' and db.n_cores == len(CORES)
    assert db.meta['settings']['runs'] == 30 and db.meta['onnxruntime']
    assert db.meta['accuracy']['ta/small']['method'].startswith('top-1 agreement')
    big = db.get(Design('ta', 'big', p0))
    small = db.get(Design('ta', 'small', p0))
    assert big.size_mb > small.size_mb and big.latency_p50_ms > small.latency_p50_ms
    assert small.accuracy == 1.0
    assert len(db.coruns) == 1  # quick, one pinned processor: the shared-core placement only
    c = db.coruns[0]
    assert (c.a, c.b) == (Design('ta', 'small', p0), Design('tb', 'small', p0))
    # two processes time-sharing one core (other load on the machine makes it less than 2)
    assert c.slowdown_a > 1.1 and c.slowdown_b > 1.1
    # third run: nothing left to do
    assert cli.main(base) == 0
    assert '0 measured' in capsys.readouterr().out


def test_failures_are_recorded_not_fatal(tmp_path):
    zoo, out = str(tmp_path / 'zoo'), str(tmp_path / 'dev.yaml')
    TinySource(zoo)
    with open(os.path.join(zoo, 'tb_small.onnx'), 'wb') as f:
        f.write(b'not an onnx model')  # a corrupted model file
    p = Processor(f'cpu{CORES[0]}', cores=(CORES[0],))
    req = ProfileRequest(SourceSpec(SPEC_NAME, (zoo,)), out, (p,), tasks=('tb',),
                         settings=Settings(warmup=1, runs=3, samples=2, timeout_s=60),
                         quick=True, coruns=False)
    report = run_profile(req, stream=io.StringIO())
    assert report.measured == 0 and len(report.failed) == 1
    assert 'cannot load' in report.failed[0][1]
    assert 'tb/small@' in next(iter(ProfileDB.load(out).meta['failures']))


def test_cli_errors(tmp_path, capsys):
    out = str(tmp_path / 'x.yaml')
    assert cli.main(['--out', out, '--processors', 'npu7', '--source', SPEC_NAME,
                     '--model-dir', str(tmp_path)]) == 2
    assert 'unknown processor' in capsys.readouterr().err
    bad = tmp_path / 's.yaml'
    bad.write_text('quick: {runs: 0}\n')
    assert cli.main(['--out', out, '--quick', '--settings', str(bad)]) == 2
    assert 'settings out of range' in capsys.readouterr().err
    bad.write_text('full: {speed: 3}\n')
    assert cli.main(['--out', out, '--settings', str(bad)]) == 2
    assert 'unknown profiler settings' in capsys.readouterr().err
    assert cli.main(['--out', out, '--model-dir', str(tmp_path / 'nozoo')]) == 2
    assert 'no zoo manifest' in capsys.readouterr().err

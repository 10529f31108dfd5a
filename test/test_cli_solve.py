"""carin-solve: table, YAML, plot, and exit codes on bad input."""
import pytest
import yaml

from carin_ros.cli.solve import EXIT_BAD_INPUT, EXIT_INFEASIBLE, main, pareto_mask
from carin_ros.core.rass import DesignSet
from carin_ros.core.synth import synthetic_db

SPEC = {'tasks': ['image_classification', 'text_classification'],
        'rates': {'image_classification': 30.0},
        'slo': {'image_classification': {'latency_p90_ms': {'max': 40.0}}},
        'objectives': {'app': {'accuracy': {'direction': 'max'},
                               'throughput_fps': {'direction': 'max'}}}}


@pytest.fixture()
def files(tmp_path):
    db = synthetic_db(seed=1, tasks=SPEC['tasks'], variants_per_task=3)
    profiles = tmp_path / 'profiles.yaml'
    db.save(profiles)
    slo = tmp_path / 'slo.yaml'
    slo.write_text(yaml.safe_dump(SPEC))
    return tmp_path, str(profiles), str(slo)


def test_solves_prints_writes_and_plots(files, capsys):
    tmp, profiles, slo = files
    out, png = tmp / 'set.yaml', tmp / 'front.png'
    rc = main(['--profiles', profiles, '--slo', slo, '--events', 'overload:cpu0,thermal',
               '--events', 'overloaded:cpu0+thermal+memory:high', '--out', str(out),
               '--plot', str(png), '--event-model', 'config/events.yaml'])
    text = capsys.readouterr().out
    assert rc == 0
    assert 'none' in text and 'overloaded:cpu0+thermal' in text and '(fallback)' in text
    assert 'app.accuracy' in text and 'app.throughput_fps' in text
    ds = DesignSet.load(out)
    assert ds.primary.feasible and ds.primary.design is not None
    assert ds.primary.design.as_dict()['image_classification'] in text
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b'\x89PNG'


@pytest.mark.parametrize('args, needle', [
    (['--events', 'overload:npu'], 'unknown processor'),
    (['--events', 'earthquake'], 'unknown event'),
    (['--max-events', '-1'], '--max-events'),
])
def test_bad_arguments_exit_2(files, capsys, args, needle):
    _, profiles, slo = files
    assert main(['--profiles', profiles, '--slo', slo, *args]) == EXIT_BAD_INPUT
    assert needle in capsys.readouterr().err


def test_bad_files_exit_2_naming_file_and_field(files, capsys):
    tmp, profiles, slo = files
    bad = tmp / 'bad.yaml'
    bad.write_text(yaml.safe_dump({**SPEC, 'slo': {'video': {'accuracy': {'min': 0.5}}}}))
    assert main(['--profiles', profiles, '--slo', str(bad)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(bad) in err and 'slo.video' in err
    assert main(['--profiles', str(tmp / 'missing.yaml'), '--slo', slo]) == EXIT_BAD_INPUT
    assert 'missing.yaml' in capsys.readouterr().err


def test_infeasible_exit_3_names_closest(files, capsys):
    tmp, profiles, _ = files
    tight = tmp / 'tight.yaml'
    tight.write_text(yaml.safe_dump({**SPEC, 'slo': {'app': {'memory_mb': {'max': 1.0}}}}))
    assert main(['--profiles', profiles, '--slo', str(tight)]) == EXIT_INFEASIBLE
    err = capsys.readouterr().err
    assert 'app.memory_mb <= 1' in err and 'Closest design' in err


def test_pareto_mask():
    pts = [[1, 1], [2, 0], [0, 2], [0.5, 0.5], [1, 1]]
    import numpy as np
    assert pareto_mask(np.array(pts, dtype=float)).tolist() == [True, True, True, False, True]

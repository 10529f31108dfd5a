"""Zoo build: one small variant via --only in a temp dir, idempotent, loadable, correct."""
from __future__ import annotations

import os

from zoo_fixtures import CPU

from carin_ros.engine.tasks import load_pipeline
from carin_ros.zoo.build import main
from carin_ros.zoo.data import picture
from carin_ros.zoo.manifest import Zoo

RECIPE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'models', 'zoo.yaml')


def test_build_one_variant_then_nothing(tmp_path: str, capsys) -> None:
    out = os.path.join(str(tmp_path), 'build')
    assert main(['--zoo', RECIPE, '--out', out, '--only', 'efficientnet_lite0_fp16']) == 0
    first = capsys.readouterr().out
    assert 'built image_classification/efficientnet_lite0_fp16.onnx' in first
    zoo = Zoo.load(out, deep=True)
    assert zoo.tasks == ('image_classification',)
    assert [v.name for v in zoo.variants('image_classification')] == ['efficientnet_lite0_fp16']
    v = zoo.variant('image_classification', 'efficientnet_lite0_fp16')
    assert v.params['published_top1'] == 0.751 and 8 < v.size_mb < 10
    assert set(v.files) == {'model', 'labels'}
    assert 'Apache' in v.licence
    with load_pipeline(zoo, 'image_classification', v.name, CPU) as pipe:
        assert pipe(picture('chelsea')).details['class_id'] in range(281, 286)

    assert main(['--zoo', RECIPE, '--out', out, '--only', 'efficientnet_lite0_fp16']) == 0
    second = capsys.readouterr().out
    assert 'built' not in second.replace('file(s) built', '')
    assert '0 file(s) built' in second


def test_build_errors(tmp_path: str, capsys) -> None:
    out = os.path.join(str(tmp_path), 'build')
    assert main(['--zoo', RECIPE, '--out', out, '--only', 'no_such_model']) == 1
    assert 'matches no task' in capsys.readouterr().err
    assert main(['--zoo', os.path.join(str(tmp_path), 'missing.yaml'), '--out', out]) == 1
    assert 'cannot read zoo recipe' in capsys.readouterr().err

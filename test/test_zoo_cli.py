"""carin-zoo: add a tiny ONNX classifier as fp32/fp16/int8, list, verify, and run it."""
from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from zoo_fixtures import CPU, calibration_dir, noise_image, tiny_classifier

from carin_ros.engine.tasks import load_pipeline
from carin_ros.zoo.accuracy import measure_accuracy
from carin_ros.zoo.cli import main
from carin_ros.zoo.manifest import USER_ZOO_NAME, Zoo


@pytest.fixture(scope='module')
def user_zoo(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp('zoo')
    onnx_path = tiny_classifier(str(root / 'tiny.onnx'))
    labels = root / 'labels.txt'
    labels.write_text('apple\nbanana\ncherry\ndate\n')
    cal = calibration_dir(str(root / 'cal'))
    model_dir = str(root / 'build')
    rc = main(['--model-dir', model_dir, 'add', '--task', 'fruit', '--onnx', onnx_path,
               '--calibration', cal, '--labels', str(labels), '--name', 'tiny'])
    assert rc == 0
    return model_dir


def test_add_registers_every_precision(user_zoo: str) -> None:
    zoo = Zoo.load(user_zoo, deep=True)
    names = [v.name for v in zoo.variants('fruit')]
    assert names == ['tiny_fp32', 'tiny_fp16', 'tiny_int8']
    assert all(v.origin == 'user' for v in zoo.variants('fruit'))
    assert zoo.variant('fruit', 'tiny_int8').input['size'] == 32
    assert {v.name for v in zoo.core_variants()} == set(names)
    with open(os.path.join(user_zoo, USER_ZOO_NAME)) as f:
        assert set(yaml.safe_load(f)['tasks']) == {'fruit'}


def test_added_variants_run_and_agree(user_zoo: str) -> None:
    zoo = Zoo.load(user_zoo)
    img = noise_image(80, 100)
    preds = {}
    for v in zoo.variants('fruit'):
        with load_pipeline(zoo, 'fruit', v.name, CPU) as pipe:
            pred = pipe(img)
            preds[v.name] = pred
            assert pred.label in {'apple', 'banana', 'cherry', 'date'}
            assert len(pred.top_k) == 4
            assert abs(sum(s for _, s in pred.top_k) - 1.0) < 1e-3
    assert preds['tiny_fp16'].label == preds['tiny_fp32'].label
    assert abs(preds['tiny_fp16'].score - preds['tiny_fp32'].score) < 0.02


def test_user_model_accuracy_is_agreement_with_fp32(user_zoo: str) -> None:
    zoo = Zoo.load(user_zoo)
    ref = measure_accuracy(zoo, 'fruit', 'tiny_fp32', CPU)
    assert ref.value == 1.0 and ref.n == 200 and 'agreement' in ref.method
    fp16 = measure_accuracy(zoo, 'fruit', 'tiny_fp16', CPU)
    assert 0.9 <= fp16.value <= 1.0
    again = measure_accuracy(zoo, 'fruit', 'tiny_fp16', CPU)
    assert again == fp16
    assert os.path.isfile(os.path.join(user_zoo, '.cache', 'accuracy', 'results.json'))


def test_list_and_verify(user_zoo: str, capsys: pytest.CaptureFixture) -> None:
    assert main(['--model-dir', user_zoo, 'list']) == 0
    out = capsys.readouterr().out
    assert 'tiny_int8' in out and 'fruit' in out
    assert main(['--model-dir', user_zoo, 'verify']) == 0
    assert '3 variants' in capsys.readouterr().out


def test_add_refuses_clashes_and_bad_input(user_zoo: str, tmp_path: str,
                                           capsys: pytest.CaptureFixture) -> None:
    onnx_path = tiny_classifier(str(tmp_path) + '/tiny.onnx')
    cal = calibration_dir(str(tmp_path) + '/cal', n=2)
    assert main(['--model-dir', user_zoo, 'add', '--task', 'fruit', '--onnx', onnx_path,
                 '--calibration', cal, '--name', 'tiny']) == 1
    assert '--replace' in capsys.readouterr().err
    empty = os.path.join(str(tmp_path), 'empty')
    os.makedirs(empty)
    assert main(['--model-dir', user_zoo, 'add', '--task', 'fruit', '--onnx', onnx_path,
                 '--calibration', empty, '--name', 'other']) == 1
    assert 'no readable images' in capsys.readouterr().err
    bad = os.path.join(str(tmp_path), 'bad.onnx')
    with open(bad, 'wb') as f:
        f.write(b'not onnx at all')
    assert main(['--model-dir', user_zoo, 'add', '--task', 'fruit', '--onnx', bad,
                 '--calibration', cal, '--name', 'bad']) == 1
    assert 'not a valid ONNX model' in capsys.readouterr().err
    assert [v.name for v in Zoo.load(user_zoo).variants('fruit')] == [
        'tiny_fp32', 'tiny_fp16', 'tiny_int8']
    np.testing.assert_equal(len(Zoo.load(user_zoo).tasks), 1)

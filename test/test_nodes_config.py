"""The demo graph file, the launch file that reads it, and the node entry points (no ROS)."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os

import pytest
import yaml

from carin_ros.demo.config import EXECUTABLES, DemoConfigError, load, parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, 'config', 'demo.yaml')
LAUNCH = os.path.join(ROOT, 'launch', 'demo.launch.py')


def test_demo_graph_is_complete() -> None:
    config = load(DEMO)
    assert set(config.task_nodes()) == {'image_classification', 'face_analysis',
                                        'text_classification'}
    assert len(config.by_executable('carin_manager')) == 1
    assert len(config.by_executable('resource_monitor')) == 1
    manager = config.by_executable('carin_manager')[0]
    assert os.path.isfile(manager.parameters['slo_file'])
    assert os.path.isfile(config.environment['FASTDDS_DEFAULT_PROFILES_FILE'])
    # Every task node's results land where the manager listens by default.
    for task, spec in config.task_nodes().items():
        assert spec.topic('results') == f'/carin/{task}/results'
        assert spec.topic('switch_events') == f'/carin/{task}/switch_events'
    # The camera feeds both image tasks, the text simulator the text task.
    cam = config.node('camera_sim').topic('image')
    assert config.node('image_classification').topic('image') == cam
    assert config.node('face_analysis').topic('image') == cam
    assert config.node('text_sim').topic('text') == config.node('text_classification').topic(
        'text')
    assert config.hog is not None and config.hog.task in config.task_nodes()


def test_slo_preset_override_reaches_only_the_manager() -> None:
    config = load(DEMO).with_slo('config/slo/image_only.yaml')
    assert config.node('carin_manager').parameters['slo_file'].endswith('image_only.yaml')
    assert 'slo_file' not in config.node('image_classification').parameters
    with pytest.raises(DemoConfigError, match='slo'):
        load(DEMO).with_slo('config/slo/no_such_preset.yaml')


def _base() -> dict:
    with open(DEMO, encoding='utf-8') as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize('edit, fragment', [
    (lambda d: d.update(nodez=[]), "unknown keys ['nodez']"),
    (lambda d: d['nodes'][0].update(executable='talker'), 'nodes[0].executable'),
    (lambda d: d['nodes'][2]['parameters'].pop('task'), 'nodes[2].parameters.task'),
    (lambda d: d['nodes'].append(dict(d['nodes'][0])), 'node names repeat'),
    (lambda d: d['hog'].update(task='nothing'), 'hog.task'),
    (lambda d: d.update(duration_s=-3), 'duration_s'),
    (lambda d: d['environment'].update(X='share:config/missing.xml'), 'environment.X'),
])
def test_bad_graph_names_file_and_field(edit, fragment: str) -> None:
    data = _base()
    edit(data)
    with pytest.raises(DemoConfigError) as info:
        parse(data, source='demo.yaml')
    assert str(info.value).startswith('demo.yaml:')
    assert fragment in str(info.value)


def test_launch_file_is_lazy_and_reads_the_demo_graph() -> None:
    tree = ast.parse(open(LAUNCH, encoding='utf-8').read())
    top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.Import) and n.names[0].name == 'os' for n in top_imports)
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in funcs
    source = ast.unparse(funcs['_nodes'])
    assert 'carin_ros.demo.config' in source and 'with_slo' in source
    # Importable without launch/launch_ros; the preset names resolve to real files.
    spec = importlib.util.spec_from_file_location('demo_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ('image_only', 'image_text', 'multi_dnn'):
        assert os.path.isfile(os.path.join(ROOT, module._slo_path(name)))
    assert module._slo_path('/x/y.yaml') == '/x/y.yaml'


def test_every_node_executable_has_a_main() -> None:
    import re
    setup = open(os.path.join(ROOT, 'setup.py'), encoding='utf-8').read()
    scripts = dict(re.findall(r"'(\w+) = (carin_ros\.nodes\.\w+):main'", setup))
    assert set(scripts) == set(EXECUTABLES)
    for exe, module in scripts.items():
        assert module == f'carin_ros.nodes.{EXECUTABLES[exe]}'
        assert callable(importlib.import_module(module).main)

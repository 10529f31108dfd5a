"""Fuzz every config parser: mutated real files raise only their documented error types."""
from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carin_ros.core.events import EventError, EventModel
from carin_ros.core.policy import DetectorConfig
from carin_ros.core.profiles import ProfileDB, ProfileError
from carin_ros.core.rass import DesignSet, solve
from carin_ros.core.slo import SloError, SloSpec
from carin_ros.demo.config import DemoConfigError
from carin_ros.demo.config import parse as parse_demo
from carin_ros.zoo.manifest import MANIFEST_NAME, Zoo, ZooError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.path.join(ROOT, 'config', 'profiles', 'amd-epyc-x2.yaml')
SLO = os.path.join(ROOT, 'config', 'slo', 'multi_dnn.yaml')
EVENTS = os.path.join(ROOT, 'config', 'events.yaml')
DEMO = os.path.join(ROOT, 'config', 'demo.yaml')
MANIFEST = os.path.join(ROOT, 'models', 'build', MANIFEST_NAME)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


_LOADED: dict[str, Any] = {}


def _yaml(path: str) -> Any:
    """The document of a real config file (read once: every example starts from the same)."""
    if not os.path.isfile(path):
        pytest.skip(f'{path} is not there (make models / profile first)')
    if path not in _LOADED:
        with open(path, encoding='utf-8') as f:
            _LOADED[path] = yaml.safe_load(f)
    return copy.deepcopy(_LOADED[path])


# Any value YAML can produce (safe_load gives only these types).
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
yaml_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested document (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):  # the first few items are enough
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, doc: Any) -> Any:
    """``doc`` with one to three mutations: a value replaced by junk, a key removed, an
    unknown key added, or a list emptied."""
    doc = copy.deepcopy(doc)
    paths = _paths(doc)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        if not path:
            return draw(yaml_values)
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            op = draw(st.sampled_from(['replace', 'delete', 'add', 'empty']))
            last = path[-1]
            if op == 'replace':
                parent[last] = draw(yaml_values)
            elif op == 'delete':
                del parent[last]
            elif op == 'add' and isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=6))] = draw(yaml_values)
            elif op == 'empty' and isinstance(parent[last], (list, dict)):
                parent[last] = type(parent[last])()
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed this path
    return doc


def _only(call: Callable[[], Any], allowed: tuple[type[Exception], ...]) -> None:
    """Run ``call``; any exception must be one of ``allowed`` and carry a message."""
    try:
        call()
    except allowed as exc:
        assert str(exc), f'{type(exc).__name__} without a message'


@FUZZ
@given(data=st.data())
def test_profile_db_parser(data) -> None:
    doc = data.draw(mutated(_yaml(PROFILE)))
    _only(lambda: ProfileDB.from_dict(doc, source='p.yaml'), (ProfileError,))


@FUZZ
@given(data=st.data())
def test_slo_parser(data) -> None:
    doc = data.draw(mutated(_yaml(SLO)))
    _only(lambda: SloSpec.from_dict(doc, source='s.yaml'), (SloError,))


@FUZZ
@given(data=st.data())
def test_event_model_and_detector_parsers(data) -> None:
    doc = data.draw(mutated(_yaml(EVENTS)))
    _only(lambda: EventModel.from_dict(doc, source='e.yaml'), (EventError,))
    _only(lambda: DetectorConfig.from_dict(doc, source='e.yaml'), (EventError,))
    if isinstance(doc, dict):
        _only(lambda: DetectorConfig.from_dict(doc.get('detection'), source='e.yaml'),
              (EventError,))


@FUZZ
@given(data=st.data())
def test_demo_config_parser(data) -> None:
    doc = data.draw(mutated(_yaml(DEMO)))
    _only(lambda: parse_demo(doc, source='demo.yaml'), (DemoConfigError,))


@FUZZ
@given(data=st.data())
def test_zoo_manifest_loader(data, tmp_path_factory) -> None:
    doc = data.draw(mutated(_yaml(MANIFEST)))
    folder = tmp_path_factory.mktemp('zoo')
    with open(folder / MANIFEST_NAME, 'w', encoding='utf-8') as f:
        yaml.safe_dump(doc, f)
    _only(lambda: Zoo.load(str(folder)), (ZooError,))


@pytest.fixture(scope='module')
def design_set_doc() -> dict:
    db = ProfileDB.from_dict(_yaml(PROFILE))
    slo = _yaml(os.path.join(ROOT, 'config', 'slo', 'image_only.yaml'))
    slo.pop('slo')  # objectives only: feasible on any profile
    spec = SloSpec.from_dict(slo)
    return solve(db, spec, max_simultaneous=1).to_dict()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_design_set_parser(data, design_set_doc: dict) -> None:
    doc = data.draw(mutated(design_set_doc))
    _only(lambda: DesignSet.from_dict(doc, source='ds.yaml'), (ValueError,))


@pytest.mark.parametrize('loader, error', [
    (ProfileDB.load, ProfileError), (SloSpec.load, SloError), (EventModel.load, EventError),
    (DetectorConfig.load, EventError)])
@pytest.mark.parametrize('text', ['a: [1, 2', 'key: value\n  bad indent: x\n', '\t- x', '{'])
def test_malformed_yaml_names_the_file(loader, error, text: str, tmp_path) -> None:
    path = tmp_path / 'broken.yaml'
    path.write_text(text, encoding='utf-8')
    with pytest.raises(error) as info:
        loader(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize('text', ['a: [1, 2', '{'])
def test_malformed_demo_and_manifest_yaml_name_the_file(text: str, tmp_path) -> None:
    from carin_ros.demo.config import load as load_demo
    path = tmp_path / 'demo.yaml'
    path.write_text(text, encoding='utf-8')
    with pytest.raises(DemoConfigError, match='malformed YAML') as info:
        load_demo(str(path))
    assert str(path) in str(info.value)
    (tmp_path / MANIFEST_NAME).write_text(text, encoding='utf-8')
    with pytest.raises(ZooError, match='malformed YAML'):
        Zoo.load(str(tmp_path))


@pytest.mark.parametrize('parser, doc_path, error, edit, fragment', [
    (ProfileDB.from_dict, PROFILE, ProfileError, lambda d: d.update(n_coers=2), 'n_coers'),
    (SloSpec.from_dict, SLO, SloError, lambda d: d.update(objectivs={}), 'objectivs'),
    (EventModel.from_dict, EVENTS, EventError,
     lambda d: d['overload'].update(latency_factor='two'), 'overload.latency_factor'),
    (lambda d, source: DetectorConfig.from_dict(d['detection'], source=source), EVENTS,
     EventError, lambda d: d['detection']['overload'].update(enter_pct='high'),
     'overload.enter_pct'),
])
def test_unknown_or_mistyped_keys_are_named(parser, doc_path, error, edit, fragment) -> None:
    doc = copy.deepcopy(_yaml(doc_path))
    edit(doc)
    with pytest.raises(error) as info:
        parser(doc, source='the.yaml')
    assert 'the.yaml' in str(info.value) and fragment in str(info.value)

"""Accuracy of a zoo variant (method in docs/accuracy.md) and real sample inputs per task."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from carin_ros.core.space import Precision, Processor
from carin_ros.zoo.data import face_picture_set, image_set, load_intents
from carin_ros.zoo.manifest import TASK_KINDS, VariantSpec, Zoo, default_model_dir

# Evaluation sets use other seeds than the int8 calibration sets (seed 0), and the image set
# holds augmentations only, so no evaluation image is a calibration image.
IMAGE_EVAL_N = 200
IMAGE_EVAL_SEED = 1
FACE_EVAL_N = 60
FACE_EVAL_SEED = 1
METHOD_VERSION = 1
REFERENCE_PROCESSOR = Processor('accuracy-reference', threads=1)


@dataclass(frozen=True)
class AccuracyResult:
    """``value`` in [0, 1], how it was obtained, and on how many inputs."""

    value: float
    method: str
    n: int

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f'accuracy must be in [0, 1], got {self.value}')


def _cache_dir(zoo: Zoo) -> str:
    env = os.environ.get('CARIN_ACCURACY_CACHE')
    if env:
        return env
    here = os.path.join(zoo.root, '.cache', 'accuracy')
    try:
        os.makedirs(here, exist_ok=True)
        if os.access(here, os.W_OK):
            return here
    except OSError:
        pass
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'carin_ros', 'accuracy')


def _key(*parts: Any) -> str:
    blob = json.dumps([METHOD_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class _Cache:
    """Small on-disk cache of reference outputs (.npz) and results (one JSON file)."""

    def __init__(self, zoo: Zoo) -> None:
        self.dir = _cache_dir(zoo)
        os.makedirs(self.dir, exist_ok=True)
        self.results_path = os.path.join(self.dir, 'results.json')

    def load_array(self, key: str) -> dict[str, np.ndarray] | None:
        path = os.path.join(self.dir, f'ref-{key}.npz')
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):
            return None

    def save_array(self, key: str, **arrays: np.ndarray) -> None:
        path = os.path.join(self.dir, f'ref-{key}.npz')
        tmp = path + '.tmp.npz'
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    def _results(self) -> dict:
        try:
            with open(self.results_path, encoding='utf-8') as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def result(self, key: str) -> AccuracyResult | None:
        r = self._results().get(key)
        if not isinstance(r, dict):
            return None
        try:
            return AccuracyResult(float(r['value']), str(r['method']), int(r['n']))
        except (KeyError, TypeError, ValueError):
            return None

    def put_result(self, key: str, result: AccuracyResult) -> None:
        data = self._results()
        data[key] = {'value': result.value, 'method': result.method, 'n': result.n}
        tmp = self.results_path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.results_path)


def _fp32_reference(zoo: Zoo, spec: VariantSpec) -> VariantSpec | None:
    for v in zoo.variants(spec.task):
        if v.arch == spec.arch and v.precision is Precision.FP32:
            return v
    return None


def measure_accuracy(zoo: Zoo, task: str, variant: str, processor: Processor,
                     use_cache: bool = True) -> AccuracyResult:
    """The accuracy of ``variant`` of ``task`` run on ``processor`` (see docs/accuracy.md)."""
    from carin_ros.engine.tasks import load_pipeline
    spec = zoo.variant(task, variant)
    cache = _Cache(zoo)
    key = _key('result', spec.sha256, processor.provider, processor.options, spec.params)
    if use_cache:
        hit = cache.result(key)
        if hit is not None:
            return hit
    if spec.kind == 'text_classification':
        result = _text_accuracy(zoo, spec, processor)
    elif spec.kind == 'image_classification':
        result = _image_accuracy(zoo, spec, processor, cache, load_pipeline)
    elif spec.kind == 'face_analysis':
        result = _face_accuracy(zoo, spec, processor, cache, load_pipeline)
    else:
        raise ValueError(f'no accuracy method for task kind {spec.kind!r}')
    cache.put_result(key, result)
    return result


def _text_accuracy(zoo: Zoo, spec: VariantSpec, processor: Processor) -> AccuracyResult:
    from carin_ros.engine.tasks import load_pipeline
    data = load_intents()
    texts, y = data.xy('test')
    pipe = load_pipeline(zoo, spec.task, spec.name, processor)
    try:
        if tuple(pipe.labels) != data.intents:
            raise ValueError(f'{spec.task}/{spec.name}: its intents {pipe.labels} differ from '
                             f'the data set\'s {data.intents}; rebuild the zoo')
        pred = np.concatenate([pipe.probabilities(texts[i:i + 32]).argmax(1)
                               for i in range(0, len(texts), 32)])
    finally:
        pipe.close()
    return AccuracyResult(float((pred == y).mean()),
                          'held-out test accuracy on the committed robot-command split', len(y))


def _image_accuracy(zoo: Zoo, spec: VariantSpec, processor: Processor, cache: _Cache,
                    load_pipeline: Any) -> AccuracyResult:
    ref = _fp32_reference(zoo, spec)
    images = image_set(IMAGE_EVAL_N + _n_bases(), seed=IMAGE_EVAL_SEED)[_n_bases():]

    def classes(v: VariantSpec, proc: Processor) -> np.ndarray:
        pipe = load_pipeline(zoo, v.task, v.name, proc)
        try:
            return np.array([int(np.argmax(pipe.probabilities(img))) for img in images])
        finally:
            pipe.close()

    published = float(spec.params.get('published_top1', 0.0) or 0.0)
    if ref is None:
        raise ValueError(f'{spec.task}/{spec.name}: no fp32 variant of {spec.arch} in the zoo '
                         f'to compare with')
    ref_key = _key('image-ref', ref.sha256['model'], IMAGE_EVAL_N, IMAGE_EVAL_SEED)
    stored = cache.load_array(ref_key)
    if stored is None:
        stored = {'classes': classes(ref, REFERENCE_PROCESSOR)}
        cache.save_array(ref_key, **stored)
    ours = classes(spec, processor)
    agreement = float((ours == stored['classes']).mean())
    if published > 0:
        return AccuracyResult(published * agreement,
                              f'published fp32 ImageNet top-1 {published:.3f} x top-1 agreement '
                              f'with fp32 {agreement:.3f} on {len(images)} local images',
                              len(images))
    return AccuracyResult(agreement, f'top-1 agreement with fp32 on {len(images)} local images '
                          f'(no published accuracy recorded)', len(images))


def _n_bases() -> int:
    from carin_ros.zoo.data import base_pictures
    return len(base_pictures())


def _face_accuracy(zoo: Zoo, spec: VariantSpec, processor: Processor, cache: _Cache,
                   load_pipeline: Any) -> AccuracyResult:
    ref = _fp32_reference(zoo, spec)
    if ref is None:
        raise ValueError(f'{spec.task}/{spec.name}: no fp32 variant of {spec.arch} to compare')
    tol = float(spec.params.get('age_tolerance', 5))
    ref_key = _key('face-ref', ref.sha256, FACE_EVAL_N, FACE_EVAL_SEED)
    stored = cache.load_array(ref_key)
    if stored is None:
        ref_pipe = load_pipeline(zoo, ref.task, ref.name, REFERENCE_PROCESSOR)
        try:
            c64, c32 = [], []
            for img in face_picture_set(FACE_EVAL_N, seed=FACE_EVAL_SEED):
                a, b = ref_pipe.chips(img, ref_pipe.detector.detect(img)[:1])
                c64 += a
                c32 += b
            if not c64:
                raise ValueError('face accuracy: the fp32 detector found no face in the set')
            g, age = ref_pipe.analyse_chips(c64, c32)
        finally:
            ref_pipe.close()
        stored = {'gender': g.argmax(1), 'age': age, 'chips64': np.stack(c64),
                  'chips32': np.stack(c32)}
        cache.save_array(ref_key, **stored)
    c64, c32 = list(stored['chips64']), list(stored['chips32'])
    pipe = load_pipeline(zoo, spec.task, spec.name, processor)
    try:
        g, age = pipe.analyse_chips(c64, c32)
    finally:
        pipe.close()
    ok = (g.argmax(1) == stored['gender']) & (np.abs(age - stored['age']) <= tol)
    return AccuracyResult(float(ok.mean()), f'agreement with fp32 (same gender and age within '
                          f'{tol:g} years) on {len(c64)} aligned face chips', len(c64))


def sample_inputs(task: str, n: int, zoo: Zoo | None = None, seed: int = 2) -> list:
    """``n`` real inputs for ``task`` (a task name of the zoo, or a task kind).

    Images: packaged pictures and augmentations (HxWx3 uint8 RGB); faces: portraits and
    augmentations; text: robot commands from the data set (train and test).
    """
    if n < 1:
        raise ValueError(f'sample_inputs: n must be >= 1, got {n}')
    kind = task if task in TASK_KINDS else (zoo or Zoo.load(default_model_dir())).kind(task)
    if kind == 'image_classification':
        return image_set(n, seed=seed)
    if kind == 'face_analysis':
        return face_picture_set(n, seed=seed)
    data = load_intents()
    sentences = [s for s, _ in data.train + data.test]
    rng = np.random.default_rng(seed)
    return [sentences[int(i)] for i in rng.permutation(len(sentences))[:n]] + \
        [sentences[int(i)] for i in rng.integers(0, len(sentences), max(0, n - len(sentences)))]

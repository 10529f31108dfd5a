"""Accuracy of built variants (text: held-out; face: agreement with fp32) and sample inputs."""
from __future__ import annotations

import numpy as np
import pytest
from zoo_fixtures import CPU, built_zoo

from carin_ros.zoo.accuracy import AccuracyResult, measure_accuracy, sample_inputs
from carin_ros.zoo.data import image_set, load_intents


def test_text_accuracy_is_the_held_out_accuracy() -> None:
    zoo = built_zoo()
    for name in ('minilm_l1_fp32', 'minilm_l1_int8_dynamic'):
        r = measure_accuracy(zoo, 'text_classification', name, CPU, use_cache=False)
        spec = zoo.variant('text_classification', name)
        assert r.n == len(load_intents().test)
        assert r.value == pytest.approx(spec.params['test_accuracy'], abs=0.01)
        assert 'held-out' in r.method


def test_face_accuracy_is_agreement_with_fp32() -> None:
    zoo = built_zoo()
    ref = measure_accuracy(zoo, 'face_analysis', 'mtcnn_agegender_fp32', CPU)
    assert ref.value == 1.0 and ref.n >= 30
    int8 = measure_accuracy(zoo, 'face_analysis', 'mtcnn_agegender_int8', CPU)
    assert 0.5 <= int8.value <= 1.0 and 'gender' in int8.method


def test_accuracy_result_range() -> None:
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        AccuracyResult(1.5, 'x', 1)


def test_sample_inputs_are_real() -> None:
    zoo = built_zoo()
    imgs = sample_inputs('image_classification', 4, zoo)
    assert len(imgs) == 4 and all(i.dtype == np.uint8 and i.shape[2] == 3 for i in imgs)
    faces = sample_inputs('face_analysis', 3, zoo)
    assert len(faces) == 3
    texts = sample_inputs('text_classification', 500, zoo)
    assert len(texts) == 500 and all(isinstance(t, str) and t for t in texts)
    assert len(set(texts)) == len(load_intents().train) + len(load_intents().test)
    with pytest.raises(ValueError):
        sample_inputs('text_classification', 0, zoo)


def test_image_set_is_deterministic_and_varied() -> None:
    a, b = image_set(30, seed=3), image_set(30, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = image_set(30, seed=4)
    assert not all(np.array_equal(x, y) for x, y in zip(a[-5:], c[-5:], strict=True))

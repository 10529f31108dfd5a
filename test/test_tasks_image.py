"""Image classification pipeline: real EfficientNet-Lite variants on real pictures."""
from __future__ import annotations

import numpy as np
import pytest
from zoo_fixtures import CPU, built_zoo

from carin_ros.engine.tasks import Prediction, load_pipeline
from carin_ros.engine.tasks.image_classification import ImageInput, preprocess
from carin_ros.zoo.data import picture
from carin_ros.zoo.manifest import ZooError

CAT_CLASSES = set(range(281, 286))   # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.mark.parametrize('variant', ['efficientnet_lite0_fp32', 'efficientnet_lite0_int8'])
def test_chelsea_is_a_cat(variant: str) -> None:
    zoo = built_zoo()
    with load_pipeline(zoo, 'image_classification', variant, CPU) as pipe:
        pred = pipe(picture('chelsea'))
    assert isinstance(pred, Prediction)
    assert pred.details['class_id'] in CAT_CLASSES, pred.top_k
    assert pred.label in {'tabby', 'tiger cat', 'Persian cat', 'Siamese cat', 'Egyptian cat'}
    assert 0.0 < pred.score <= 1.0
    assert len(pred.top_k) == 5
    assert [s for _, s in pred.top_k] == sorted((s for _, s in pred.top_k), reverse=True)
    assert pred.top_k[0] == (pred.label, pred.score)


def test_coffee_is_espresso_in_every_precision() -> None:
    zoo = built_zoo()
    for v in zoo.variants('image_classification'):
        if v.arch != 'efficientnet_lite0':
            continue
        with load_pipeline(zoo, 'image_classification', v.name, CPU) as pipe:
            pred = pipe(picture('coffee'))
        assert pred.label in {'espresso', 'cup', 'coffee mug'}, (v.name, pred.top_k)


def test_bad_images_get_clear_errors() -> None:
    zoo = built_zoo()
    with load_pipeline(zoo, 'image_classification', 'efficientnet_lite0_fp32', CPU) as pipe:
        with pytest.raises(ValueError, match='HxWx3 uint8'):
            pipe(np.zeros((32, 32), np.uint8))
        with pytest.raises(ValueError, match='HxWx3 uint8'):
            pipe(np.zeros((32, 32, 3), np.float32))
        with pytest.raises(ValueError, match='HxWx3 uint8'):
            pipe('not an image')
        with pytest.raises(ValueError, match='too small'):
            pipe(np.zeros((4, 4, 3), np.uint8))
        pipe.warmup(1)


def test_preprocess_shape_and_normalisation() -> None:
    spec = ImageInput(224, 256, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
    x = preprocess(np.full((300, 451, 3), 255, np.uint8), spec)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    assert np.allclose(x, (255 - 127) / 128)
    tall = preprocess(np.zeros((500, 100, 3), np.uint8), spec)
    assert tall.shape == (1, 3, 224, 224)
    with pytest.raises(ZooError, match='resize >= size'):
        ImageInput.from_dict({'size': 224, 'resize': 100}, 'here')


def test_missing_provider_is_reported_as_such() -> None:
    from carin_ros.core.space import Processor
    from carin_ros.engine.session import ProcessorUnavailable
    zoo = built_zoo()
    gpu = Processor('gpu', provider='NoSuchExecutionProvider')
    with pytest.raises(ProcessorUnavailable, match='NoSuchExecutionProvider'):
        load_pipeline(zoo, 'image_classification', 'efficientnet_lite0_fp32', gpu)

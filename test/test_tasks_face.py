"""Face analysis pipeline: MTCNN finds the astronaut's face; age and gender come out."""
from __future__ import annotations

import json

import numpy as np
import pytest
from zoo_fixtures import CPU, built_zoo, noise_image

from carin_ros.engine.tasks import load_pipeline
from carin_ros.engine.tasks.face_analysis import _nms, align_chips
from carin_ros.zoo.data import picture


@pytest.mark.parametrize('variant', ['mtcnn_agegender_fp32', 'mtcnn_agegender_int8'])
def test_astronaut_has_one_face(variant: str) -> None:
    zoo = built_zoo()
    with load_pipeline(zoo, 'face_analysis', variant, CPU) as pipe:
        pred = pipe(picture('astronaut'))
    assert pred.label == 'face' and pred.details['n_faces'] == 1
    face = pred.details['faces'][0]
    x1, y1, x2, y2 = face['box']
    # Eileen Collins' face lies around x 180-270, y 60-175 of the 512x512 picture.
    assert 150 < x1 < 210 and 240 < x2 < 300 and 30 < y1 < 90 and 140 < y2 < 210, face['box']
    assert face['score'] > 0.9
    assert face['gender'] in ('female', 'male') and 0.5 <= face['gender_score'] <= 1.0
    assert 20 <= face['age'] <= 65
    (lx, ly), (rx, ry) = face['landmarks'][0], face['landmarks'][1]
    assert x1 < lx < rx < x2 and y1 < ly < y2 and y1 < ry < y2
    json.dumps(pred.details)   # JSON-serialisable


def test_no_face_in_noise_and_coffee() -> None:
    zoo = built_zoo()
    with load_pipeline(zoo, 'face_analysis', 'mtcnn_agegender_fp32', CPU) as pipe:
        for img in (noise_image(240, 320), picture('coffee')):
            pred = pipe(img)
            assert pred.label == 'no_face' and pred.details['faces'] == []
            assert 0.0 <= pred.score <= 1.0


def test_nms_and_alignment() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float64)
    keep = _nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5, 'union')
    assert keep.tolist() == [0, 2]
    img = picture('astronaut')
    eyes = np.array([[205, 105], [245, 103], [225, 125], [210, 150], [240, 150]], np.float32)
    c64, c32 = align_chips(img, eyes, (64, 32))
    assert c64.shape == (64, 64, 3) and c32.shape == (32, 32, 3) and c64.dtype == np.uint8
    with pytest.raises(ValueError, match='degenerate'):
        align_chips(img, np.zeros((5, 2), np.float32), (64, 32))

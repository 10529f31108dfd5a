"""Image classification: resize, centre crop, normalise, one ONNX classifier, top-k labels."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from carin_ros.core.space import Processor
from carin_ros.engine.tasks.base import (
    Prediction,
    TaskPipeline,
    check_image,
    read_labels,
    softmax,
    top_k,
)
from carin_ros.zoo.manifest import VariantSpec, ZooError


@dataclass(frozen=True)
class ImageInput:
    """Preprocessing of a classifier: shorter side to ``resize``, centre crop ``size``."""

    size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> ImageInput:
        try:
            size = int(data['size'])
            resize = int(data.get('resize', round(size / 0.875)))
            mean = tuple(float(v) for v in data.get('mean', (127.0, 127.0, 127.0)))
            std = tuple(float(v) for v in data.get('std', (128.0, 128.0, 128.0)))
        except KeyError as exc:
            raise ZooError(f'{where}: input lacks {exc}') from exc
        except (TypeError, ValueError) as exc:
            raise ZooError(f'{where}: input: {exc}') from exc
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0 or size < 8 or resize < size:
            raise ZooError(f'{where}: input needs size >= 8, resize >= size, 3 means and 3 '
                           f'positive stds, got {dict(data)}')
        return cls(size, resize, mean, std)  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        return {'size': self.size, 'resize': self.resize, 'mean': list(self.mean),
                'std': list(self.std)}


def preprocess(img: np.ndarray, spec: ImageInput) -> np.ndarray:
    """HxWx3 uint8 RGB -> 1x3xSxS float32 (resize shorter side, centre crop, normalise)."""
    h, w = img.shape[:2]
    s = spec.resize / min(h, w)
    nh, nw = max(spec.size, round(h * s)), max(spec.size, round(w * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    img = cv2.resize(img, (nw, nh), interpolation=interp)
    y, x = (nh - spec.size) // 2, (nw - spec.size) // 2
    crop = img[y:y + spec.size, x:x + spec.size].astype(np.float32)
    crop -= np.asarray(spec.mean, np.float32)
    crop /= np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None])


class ImageClassificationPipeline(TaskPipeline):
    """An ImageNet-style classifier (one ``model`` file, optional ``labels`` file)."""

    def __init__(self, spec: VariantSpec, processor: Processor) -> None:
        super().__init__(spec, processor)
        self.input = ImageInput.from_dict(spec.input, f'{spec.task}/{spec.name}')
        self.k = int(spec.params.get('top_k', 5))
        self.labels: tuple[str, ...] = (read_labels(spec.files['labels'])
                                        if 'labels' in spec.files else ())
        self.session = self._session('model')
        self._in = self.session.get_inputs()[0].name
        self.probs_in_graph = bool(spec.params.get('softmax_in_graph', False))

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._in: batch})[0]

    def probabilities(self, img: np.ndarray) -> np.ndarray:
        out = self.logits(preprocess(check_image(img, self.task), self.input))[0]
        return out.astype(np.float32) if self.probs_in_graph else softmax(out)

    def __call__(self, sample: Any) -> Prediction:
        probs = self.probabilities(sample)
        ranked = top_k(probs, self.labels, self.k)
        return Prediction(self.task, ranked[0][0], ranked[0][1], ranked,
                          {'class_id': int(np.argmax(probs))})

    def example_input(self) -> np.ndarray:
        return np.full((self.input.size, self.input.size, 3), 127, np.uint8)

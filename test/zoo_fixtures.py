"""Shared helpers of the zoo and task tests: the built zoo, a tiny ONNX classifier."""
from __future__ import annotations

import os
import warnings

import cv2
import numpy as np
import pytest

from carin_ros.core.space import Processor
from carin_ros.zoo.data import image_set
from carin_ros.zoo.manifest import Zoo, ZooError, default_model_dir

CPU = Processor('cpu1', threads=1)


def built_zoo() -> Zoo:
    """The zoo that `make models` built (the tests skip, saying why, when it is absent)."""
    try:
        return Zoo.load(default_model_dir())
    except ZooError as exc:
        pytest.skip(f'model zoo not built (make models): {exc}')


def tiny_classifier(path: str, size: int = 32, classes: int = 4, seed: int = 0) -> str:
    """A small conv classifier (N x 3 x size x size -> N x classes logits) exported to ONNX."""
    import torch
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, classes)).eval()
    x = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17, input_names=['x'],
                          output_names=['logits'],
                          dynamic_axes={'x': {0: 'N'}, 'logits': {0: 'N'}})
    return path


def calibration_dir(path: str, n: int = 6) -> str:
    os.makedirs(path, exist_ok=True)
    for i, img in enumerate(image_set(n)):
        small = cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(path, f'img{i:02d}.png'), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return path


def noise_image(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)

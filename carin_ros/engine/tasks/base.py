"""The task pipeline contract: a loaded variant that turns one sample into a Prediction."""
from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from carin_ros.core.space import Processor
from carin_ros.engine.session import ProcessorUnavailable, make_session
from carin_ros.zoo.manifest import VariantSpec, ZooError, verify_file


@dataclass(frozen=True)
class Prediction:
    """One inference result; ``details`` holds JSON-serialisable extras."""

    task: str
    label: str
    score: float
    top_k: tuple[tuple[str, float], ...]
    details: Mapping[str, Any] = field(default_factory=dict)


class TaskPipeline(abc.ABC):
    """One loaded variant of a task on one processor (pre-processing, sessions, decoding)."""

    def __init__(self, spec: VariantSpec, processor: Processor) -> None:
        self.spec = spec
        self.task = spec.task
        self.variant = spec.name
        self.processor = processor
        self._sessions: list[ort.InferenceSession] = []

    def _session(self, role: str) -> ort.InferenceSession:
        """Verify the variant's ``role`` file (sha256) and open it on the processor."""
        f = self.spec.file(role)
        verify_file(f, deep=True)
        try:
            session = make_session(f.path, self.processor)
        except ProcessorUnavailable:
            raise
        except RuntimeError as exc:
            raise ZooError(f'{f.path} ({self.spec.task}/{self.spec.name} {role}): cannot be '
                           f'loaded as an ONNX model: {exc}') from exc
        self._sessions.append(session)
        return session

    @abc.abstractmethod
    def __call__(self, sample: Any) -> Prediction:
        """Run one sample (image tasks: HxWx3 uint8 RGB; text: str)."""

    @abc.abstractmethod
    def example_input(self) -> Any:
        """A valid input for warm-up runs."""

    def warmup(self, n: int = 3) -> None:
        sample = self.example_input()
        for _ in range(max(0, n)):
            self(sample)

    def close(self) -> None:
        self._sessions.clear()

    def __enter__(self) -> TaskPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.task}/{self.variant}@{self.processor.name})'


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x.astype(np.float32) - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def top_k(probs: np.ndarray, labels: tuple[str, ...], k: int) -> tuple[tuple[str, float], ...]:
    k = max(1, min(k, probs.shape[-1]))
    idx = np.argpartition(-probs, k - 1)[:k]
    idx = idx[np.argsort(-probs[idx])]
    return tuple((label_of(labels, int(i)), float(probs[i])) for i in idx)


def label_of(labels: tuple[str, ...], i: int) -> str:
    return labels[i] if 0 <= i < len(labels) else f'class_{i}'


def read_labels(path: str) -> tuple[str, ...]:
    try:
        with open(path, encoding='utf-8') as f:
            labels = tuple(line.rstrip('\n') for line in f if line.strip())
    except OSError as exc:
        raise ZooError(f'{path}: cannot read labels: {exc.strerror}') from exc
    if not labels:
        raise ZooError(f'{path}: labels file is empty')
    return labels


def check_image(sample: Any, task: str) -> np.ndarray:
    """The sample as HxWx3 uint8, or ValueError saying what was wrong with it."""
    if not isinstance(sample, np.ndarray):
        raise ValueError(f'{task}: expected an HxWx3 uint8 RGB ndarray, got '
                         f'{type(sample).__name__}')
    if sample.ndim != 3 or sample.shape[2] != 3 or sample.dtype != np.uint8:
        raise ValueError(f'{task}: expected an HxWx3 uint8 RGB ndarray, got shape '
                         f'{sample.shape} dtype {sample.dtype}')
    if sample.shape[0] < 8 or sample.shape[1] < 8:
        raise ValueError(f'{task}: image {sample.shape[1]}x{sample.shape[0]} is too small')
    return sample

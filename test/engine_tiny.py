"""Tiny real ONNX models and a real pipeline around them, for engine and profiler tests."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from carin_ros.core.space import Design, Processor
from carin_ros.engine.session import make_session

N_IN = 64
N_OUT = 4


def build_model(path: str, depth: int = 4, width: int = 256, seed: int = 0) -> str:
    """An MLP ``[1, N_IN] -> [1, N_OUT]`` with ``depth`` hidden MatMul+Relu layers."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev, prev_w = 'x', N_IN
    for i in range(depth):
        w = numpy_helper.from_array((rng.standard_normal((prev_w, width)) / np.sqrt(prev_w))
                                    .astype(np.float32), f'w{i}')
        inits.append(w)
        nodes += [helper.make_node('MatMul', [prev, f'w{i}'], [f'm{i}']),
                  helper.make_node('Relu', [f'm{i}'], [f'h{i}'])]
        prev, prev_w = f'h{i}', width
    inits.append(numpy_helper.from_array(
        (rng.standard_normal((prev_w, N_OUT)) / np.sqrt(prev_w)).astype(np.float32), 'wout'))
    nodes.append(helper.make_node('MatMul', [prev, 'wout'], ['y']))
    graph = helper.make_graph(nodes, 'tiny', [helper.make_tensor_value_info(
        'x', TensorProto.FLOAT, [1, N_IN])], [helper.make_tensor_value_info(
            'y', TensorProto.FLOAT, [1, N_OUT])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@dataclass(frozen=True)
class TinyPrediction:
    task: str
    label: str
    score: float
    top_k: tuple[tuple[str, float], ...]
    details: dict = field(default_factory=dict)


class TinyPipeline:
    """A real ORT pipeline: float vector in, arg-max class out (same contract as TaskPipeline)."""

    def __init__(self, path: str, task: str, variant: str, processor: Processor) -> None:
        self.task, self.variant, self.processor = task, variant, processor
        self.session = make_session(path, processor)
        self.closed = False

    def __call__(self, sample: Any) -> TinyPrediction:
        x = np.asarray(sample, dtype=np.float32).reshape(1, -1)
        y = self.session.run(None, {'x': x})[0][0]
        k = int(np.argmax(y))
        return TinyPrediction(self.task, f'class{k}', float(y[k]), ((f'class{k}', float(y[k])),))

    def warmup(self, n: int = 3) -> None:
        for _ in range(n):
            self(np.zeros(N_IN, np.float32))

    def close(self) -> None:
        self.closed = True
        self.session = None


def tiny_zoo(root: str) -> dict[str, str]:
    """Variants ``small`` (fast) and ``big`` (slower) of task ``tiny``: name -> model path."""
    os.makedirs(root, exist_ok=True)
    return {'small': build_model(os.path.join(root, 'small.onnx'), depth=2, width=128),
            'big': build_model(os.path.join(root, 'big.onnx'), depth=6, width=512, seed=1)}


def factory_for(paths: dict[str, str]):
    def build(design: Design, processor: Processor) -> TinyPipeline:
        path = paths.get(design.variant, os.path.join('/nonexistent', design.variant + '.onnx'))
        return TinyPipeline(path, design.task, design.variant, processor)
    return build


class TinySource:
    """A profiler ModelSource over a tiny zoo: tasks ``ta`` (small, big) and ``tb`` (small)."""

    LAYOUT = {('ta', 'small'): (2, 64, 0), ('ta', 'big'): (6, 384, 1), ('tb', 'small'): (3, 96, 2)}

    def __init__(self, root: str) -> None:
        from carin_ros.core.space import Variant
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.version = 'tiny-1'
        self.paths = {}
        for (task, name), (depth, width, seed) in self.LAYOUT.items():
            path = os.path.join(root, f'{task}_{name}.onnx')
            if not os.path.exists(path):
                build_model(path, depth=depth, width=width, seed=seed)
            self.paths[(task, name)] = path
        self._variants = [Variant(t, n, f'mlp{d}', 'fp32') for (t, n), (d, _, _) in
                          self.LAYOUT.items()]

    def variants(self):
        return list(self._variants)

    def size_mb(self, task: str, variant: str) -> float:
        return os.path.getsize(self.paths[(task, variant)]) / 2**20

    def load(self, task: str, variant: str, processor: Processor) -> TinyPipeline:
        return TinyPipeline(self.paths[(task, variant)], task, variant, processor)

    def samples(self, task: str, n: int) -> list:
        rng = np.random.default_rng(42)
        return [rng.standard_normal(N_IN).astype(np.float32) for _ in range(n)]

    def accuracy(self, task: str, variant: str, processor: Processor):
        """Top-1 agreement with the task's first variant on 32 inputs (a real measurement)."""
        from carin_ros.profiler.source import Accuracy
        ref_name = next(n for (t, n) in self.LAYOUT if t == task)
        ref, pipe = self.load(task, ref_name, processor), self.load(task, variant, processor)
        xs = self.samples(task, 32)
        agree = sum(ref(x).label == pipe(x).label for x in xs)
        return Accuracy(agree / len(xs), f'top-1 agreement with {ref_name}', len(xs))

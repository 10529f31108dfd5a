"""Where the profiler gets models, sample inputs and accuracy from (the zoo, or any source)."""
from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from carin_ros.core.space import Processor, Variant
from carin_ros.engine.runner import Pipeline


@dataclass(frozen=True)
class Accuracy:
    """An accuracy figure in [0, 1] and how it was measured."""

    value: float
    method: str
    n: int


class ModelSource(Protocol):
    """Everything the profiler needs to measure a design."""

    @property
    def version(self) -> str: ...

    def variants(self) -> Sequence[Variant]: ...

    def size_mb(self, task: str, variant: str) -> float: ...

    def load(self, task: str, variant: str, processor: Processor) -> Pipeline: ...

    def samples(self, task: str, n: int) -> list[Any]: ...

    def accuracy(self, task: str, variant: str, processor: Processor) -> Accuracy: ...


@dataclass(frozen=True)
class SourceSpec:
    """A picklable recipe for a :class:`ModelSource`: ``module:callable`` plus arguments.

    Profiling children (fresh processes) rebuild the source from it.
    """

    factory: str
    args: tuple[Any, ...] = ()

    def build(self) -> ModelSource:
        module, sep, name = self.factory.partition(':')
        if not sep or not module or not name:
            raise ValueError(f'source factory {self.factory!r} is not "module:callable"')
        return getattr(importlib.import_module(module), name)(*self.args)


class ZooSource:
    """The carin_ros model zoo of ``model_dir`` (see ``carin_ros.zoo``)."""

    def __init__(self, model_dir: str | None = None) -> None:
        from carin_ros.zoo.manifest import Zoo
        self.zoo = Zoo.load(model_dir)

    @property
    def version(self) -> str:
        return self.zoo.version

    def variants(self) -> Sequence[Variant]:
        return self.zoo.core_variants()

    def size_mb(self, task: str, variant: str) -> float:
        return float(self.zoo.variant(task, variant).size_mb)

    def load(self, task: str, variant: str, processor: Processor) -> Pipeline:
        from carin_ros.engine.tasks import load_pipeline
        return load_pipeline(self.zoo, task, variant, processor)

    def samples(self, task: str, n: int) -> list[Any]:
        from carin_ros.zoo.accuracy import sample_inputs
        return list(sample_inputs(task, n, zoo=self.zoo))

    def accuracy(self, task: str, variant: str, processor: Processor) -> Accuracy:
        from carin_ros.zoo.accuracy import measure_accuracy
        res = measure_accuracy(self.zoo, task, variant, processor)
        return Accuracy(float(res.value), str(res.method), int(res.n))


def zoo_spec(model_dir: str | None = None) -> SourceSpec:
    return SourceSpec('carin_ros.profiler.source:ZooSource', (model_dir,))

"""Task pipelines (pre-processing, ONNX sessions, decoding) and the loader that builds them."""
from __future__ import annotations

from carin_ros.core.space import Processor
from carin_ros.engine.tasks.base import Prediction, TaskPipeline
from carin_ros.zoo.manifest import Zoo

__all__ = ['Prediction', 'TaskPipeline', 'load_pipeline', 'pipeline_class']


def pipeline_class(kind: str) -> type[TaskPipeline]:
    """The pipeline class of a task kind (imports only that kind's module)."""
    if kind == 'image_classification':
        from carin_ros.engine.tasks.image_classification import ImageClassificationPipeline
        return ImageClassificationPipeline
    if kind == 'text_classification':
        from carin_ros.engine.tasks.text_classification import TextClassificationPipeline
        return TextClassificationPipeline
    if kind == 'face_analysis':
        from carin_ros.engine.tasks.face_analysis import FaceAnalysisPipeline
        return FaceAnalysisPipeline
    raise ValueError(f'unknown task kind {kind!r}')


def load_pipeline(zoo: Zoo, task: str, variant: str, processor: Processor) -> TaskPipeline:
    """Load ``variant`` of ``task`` on ``processor``; files are sha256-checked first."""
    spec = zoo.variant(task, variant)
    return pipeline_class(spec.kind)(spec, processor)

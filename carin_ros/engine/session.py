"""ONNX Runtime sessions bound to a processor (provider, threads, pinned cores)."""
from __future__ import annotations

import os

import onnxruntime as ort

from carin_ros.core.space import Processor


class ProcessorUnavailable(RuntimeError):
    """The processor's execution provider is not installed or failed to initialise."""


# The cores the process could use at start (before any thread pinned itself).
PROCESS_CORES: frozenset[int] = frozenset(
    os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else range(os.cpu_count() or 1))


def pin_current_thread(processor: Processor) -> None:
    """Pin the calling thread to the processor's cores (Linux; no-op when not pinned).

    With ``threads == 1`` ONNX Runtime runs the graph on the calling thread, so pinning the
    thread that calls ``session.run`` pins the whole inference.
    """
    if processor.is_cpu and processor.cores and hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, set(processor.cores))


def unpin_current_thread() -> None:
    """Let the calling thread run on every core the process had at start (Linux; else no-op)."""
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, set(PROCESS_CORES))


def repin_current_thread(processor: Processor) -> None:
    """Pin to the processor's cores, or unpin when it has none (accelerators, ``cpu``)."""
    if processor.is_cpu and processor.cores:
        pin_current_thread(processor)
    else:
        unpin_current_thread()


def session_options(processor: Processor) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = processor.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if processor.is_cpu and processor.cores and processor.threads > 1:
        # ORT's intra-op pool has threads-1 workers (the caller is the first thread):
        # give each worker one of the pinned cores, round robin.
        workers = [str(processor.cores[(i + 1) % len(processor.cores)])
                   for i in range(processor.threads - 1)]
        opts.add_session_config_entry('session.intra_op_thread_affinities', ';'.join(workers))
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
    else:
        # Spinning threads burn the core the other tasks need; measured latency is the same.
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return opts


def provider_spec(processor: Processor) -> list:
    """The ``providers`` argument of InferenceSession for this processor (CPU as fallback).

    Accelerator options (CUDA arena, TensorRT fp16/int8 and engine cache, ...) come from
    :func:`carin_ros.engine.processors.provider_chain`.
    """
    if processor.is_cpu:
        return ['CPUExecutionProvider']
    if processor.provider not in ort.get_available_providers():
        raise ProcessorUnavailable(
            f'processor {processor.name}: {processor.provider} is not in this onnxruntime build '
            f'(available: {", ".join(ort.get_available_providers())})')
    from carin_ros.engine.processors import provider_chain
    return provider_chain(processor)


def make_session(model_path: str | os.PathLike, processor: Processor) -> ort.InferenceSession:
    """An InferenceSession of ``model_path`` on ``processor``; clear errors on failure."""
    path = os.fspath(model_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'model file not found: {path}')
    try:
        session = ort.InferenceSession(path, sess_options=session_options(processor),
                                       providers=provider_spec(processor))
    except ProcessorUnavailable:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types
        raise RuntimeError(f'cannot load {path} on {processor.name}: {exc}') from exc
    if processor.provider not in session.get_providers():
        # ORT silently falls back to the CPU when an accelerator fails to initialise (missing
        # CUDA/cuDNN libraries): the design would run somewhere its profile does not describe.
        raise ProcessorUnavailable(
            f'processor {processor.name}: {processor.provider} failed to initialise for {path} '
            f'(session got {session.get_providers()})')
    return session

"""Precision variants of an fp32 ONNX model: fp16, static QDQ int8, dynamic int8."""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence

import numpy as np
import onnx


def check_onnx(path: str) -> onnx.ModelProto:
    """Load and check an ONNX file; ValueError naming the file when it is not a valid model."""
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError...
        raise ValueError(f'{path}: not a valid ONNX model: {exc}') from exc
    return model


def to_fp16(src: str, dst: str) -> None:
    """fp16 weights and activations, fp32 inputs/outputs (``keep_io_types``).

    Uses onnxruntime's copy of onnxconverter_common's converter: the latter leaves
    mistyped Cast outputs in BERT graphs that onnxruntime then refuses to load.
    """
    import warnings

    from onnxruntime.transformers.float16 import convert_float_to_float16
    model = onnx.load(src)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model16 = convert_float_to_float16(model, keep_io_types=True)
    _save(model16, dst)


def to_int8_dynamic(src: str, dst: str) -> None:
    """Dynamic int8: int8 weights, activations quantised at run time (transformer path)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with _tmp_path(dst) as tmp, _quiet():
        quantize_dynamic(src, tmp, weight_type=QuantType.QInt8, per_channel=False,
                         reduce_range=False)
        os.replace(tmp, dst)


class _Reader:
    """A CalibrationDataReader over prepared input batches."""

    def __init__(self, name: str, batches: Sequence[np.ndarray]) -> None:
        self._name = name
        self._it = iter(batches)

    def get_next(self) -> dict | None:
        batch = next(self._it, None)
        return None if batch is None else {self._name: batch}


def to_int8_static(src: str, dst: str, inputs: Sequence[np.ndarray],
                   per_channel: bool = True) -> None:
    """Static QDQ int8 calibrated on ``inputs`` (each a ready input tensor, batch 1..n).

    U8S8 with ``reduce_range=True``: on CPUs without VNNI the 7-bit weight range avoids the
    u8*s8 saturation that otherwise costs EfficientNet-Lite ~15 points of fp32 agreement.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if not inputs:
        raise ValueError(f'{src}: static int8 needs calibration inputs')
    name = onnx.load(src, load_external_data=False).graph.input[0].name
    with _tmp_path(dst) as pre, _tmp_path(dst) as tmp, _quiet():
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        quantize_static(pre, tmp, _Reader(name, list(inputs)), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=per_channel, reduce_range=True,
                        calibrate_method=CalibrationMethod.MinMax)
        os.replace(tmp, dst)


def _save(model: onnx.ModelProto, dst: str) -> None:
    with _tmp_path(dst) as tmp:
        onnx.save(model, tmp)
        os.replace(tmp, dst)


@contextlib.contextmanager
def _tmp_path(dst: str) -> Iterator[str]:
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.onnx', dir=os.path.dirname(os.path.abspath(dst)))
    os.close(fd)
    try:
        yield tmp
    finally:
        for p in (tmp, tmp + '.data'):
            if os.path.exists(p):
                os.remove(p)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence onnxruntime.quantization's INFO/WARNING chatter during a conversion."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


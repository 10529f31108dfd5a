"""Decode ROS image buffers to HxWx3 uint8 RGB arrays and text payloads to str, validating both."""
from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Protocol

import numpy as np

DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_TEXT_BYTES = 64 * 1024


class DecodeError(ValueError):
    """A message that cannot be turned into model input; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Encoding:
    """Layout of one ROS image encoding: channels, bytes per channel, channel order."""

    name: str
    channels: int
    channel_bytes: int
    order: str  # 'rgb', 'bgr', 'rgba', 'bgra', 'mono'

    @property
    def pixel_bytes(self) -> int:
        return self.channels * self.channel_bytes


ENCODINGS: dict[str, Encoding] = {e.name: e for e in (
    Encoding('rgb8', 3, 1, 'rgb'),
    Encoding('bgr8', 3, 1, 'bgr'),
    Encoding('rgba8', 4, 1, 'rgba'),
    Encoding('bgra8', 4, 1, 'bgra'),
    Encoding('mono8', 1, 1, 'mono'),
    Encoding('8UC1', 1, 1, 'mono'),
    Encoding('8UC3', 3, 1, 'bgr'),  # OpenCV convention, as cv_bridge
    Encoding('mono16', 1, 2, 'mono'),
    Encoding('16UC1', 1, 2, 'mono'),
)}


class ImageLike(Protocol):
    """Anything with the fields of sensor_msgs/Image (a message, or a test object)."""

    width: int
    height: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes | bytearray | memoryview | np.ndarray


def decode_image_msg(msg: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a sensor_msgs/Image-like object; see :func:`decode_image`."""
    try:
        fields = (msg.width, msg.height, msg.encoding, msg.is_bigendian, msg.step, msg.data)
    except AttributeError as exc:
        raise DecodeError(f'not an image message: {exc}') from exc
    return decode_image(*fields, max_pixels=max_pixels)


def decode_image(width: int, height: int, encoding: str, is_bigendian: int | bool, step: int,
                 data: bytes | bytearray | memoryview | np.ndarray | list[int] | None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image as a C-contiguous HxWx3 uint8 RGB array (a copy; the buffer is not kept).

    Row padding (``step > width * bytes per pixel``) is dropped; alpha is dropped; mono is
    replicated to three channels; 16-bit mono is scaled to 8 bits by its top byte.
    """
    for name, value in (('width', width), ('height', height), ('step', step)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DecodeError(f'{name} must be an integer, got {type(value).__name__}')
    width, height, step = int(width), int(height), int(step)
    if not isinstance(encoding, str):
        raise DecodeError(f'encoding must be a string, got {type(encoding).__name__}')
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise DecodeError(f'unsupported encoding {encoding!r} (supported: '
                          f'{", ".join(ENCODINGS)})')
    if width <= 0 or height <= 0:
        raise DecodeError(f'empty image: {width}x{height}')
    if width * height > max_pixels:
        raise DecodeError(f'image {width}x{height} has {width * height} pixels, over the '
                          f'limit of {max_pixels}')
    row = width * enc.pixel_bytes
    if step < row:
        raise DecodeError(f'step {step} is less than width*bytes_per_pixel = {width}*'
                          f'{enc.pixel_bytes} = {row} for {encoding}')
    if enc.channel_bytes > 1 and (isinstance(is_bigendian, float)
                                  or is_bigendian not in (0, 1, True, False)):
        # 8-bit encodings have no byte order, so the flag only matters (and is checked) here.
        raise DecodeError(f'is_bigendian must be 0 or 1 for the multi-byte encoding {encoding}, '
                          f'got {is_bigendian!r}')
    buf = _as_bytes(data)
    if len(buf) != step * height:
        raise DecodeError(f'data has {len(buf)} bytes, expected step*height = {step}*{height} '
                          f'= {step * height}')
    rows = np.frombuffer(buf, dtype=np.uint8).reshape(height, step)[:, :row]
    if enc.channel_bytes == 2:
        # The most significant byte of each little/big-endian 16-bit sample.
        pix = rows.reshape(height, width, 2)
        mono = pix[:, :, 0 if is_bigendian else 1]
        return np.ascontiguousarray(np.repeat(mono[:, :, None], 3, axis=2))
    pix = rows.reshape(height, width, enc.channels)
    if enc.order == 'rgb':
        out = pix
    elif enc.order == 'bgr':
        out = pix[:, :, ::-1]
    elif enc.order == 'rgba':
        out = pix[:, :, :3]
    elif enc.order == 'bgra':
        out = pix[:, :, 2::-1]
    else:
        out = np.repeat(pix, 3, axis=2)
    return np.ascontiguousarray(out)


def _as_bytes(data: object) -> bytes | memoryview:
    if data is None:
        raise DecodeError('image has no data')
    if isinstance(data, (bytes, bytearray)):
        return data if isinstance(data, bytes) else memoryview(data)
    if isinstance(data, memoryview):
        return data.tobytes() if not data.c_contiguous else data.cast('B')
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise DecodeError(f'data array must be uint8, got {data.dtype}')
        return np.ascontiguousarray(data).reshape(-1).data
    if isinstance(data, (list, tuple, array.array)):
        # rclpy gives array.array('B') for uint8[] fields
        if isinstance(data, array.array) and data.typecode not in ('B', 'b'):
            raise DecodeError(f'data array must hold bytes, got typecode {data.typecode!r}')
        try:
            return bytes(data)
        except (TypeError, ValueError) as exc:
            raise DecodeError(f'data is not a byte sequence: {exc}') from exc
    raise DecodeError(f'data must be bytes-like, got {type(data).__name__}')


def encode_image(rgb: np.ndarray, encoding: str = 'rgb8', step: int | None = None,
                 is_bigendian: int = 0) -> tuple[int, int, str, int, int, bytes]:
    """The reverse of :func:`decode_image` for 8-bit encodings (used by simulators and tests).

    Returns ``(width, height, encoding, is_bigendian, step, data)``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f'expected HxWx3 uint8, got {rgb.shape} {rgb.dtype}')
    enc = ENCODINGS.get(encoding)
    if enc is None or enc.channel_bytes != 1:
        raise ValueError(f'cannot encode to {encoding!r}')
    h, w = rgb.shape[:2]
    if enc.order == 'rgb':
        pix = rgb
    elif enc.order == 'bgr':
        pix = rgb[:, :, ::-1]
    elif enc.order in ('rgba', 'bgra'):
        alpha = np.full((h, w, 1), 255, np.uint8)
        pix = np.concatenate([rgb if enc.order == 'rgba' else rgb[:, :, ::-1], alpha], axis=2)
    else:
        pix = rgb[:, :, :1]
    row = w * enc.pixel_bytes
    step = row if step is None else step
    if step < row:
        raise ValueError(f'step {step} < row bytes {row}')
    out = np.zeros((h, step), np.uint8)
    out[:, :row] = pix.reshape(h, row)
    return w, h, encoding, int(is_bigendian), step, out.tobytes()


def decode_text(data: bytes | bytearray | memoryview | str,
                max_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> str:
    """The text payload as str, stripped of surrounding whitespace.

    Rejects (DecodeError) non-text types, payloads over ``max_bytes`` UTF-8 bytes, invalid
    UTF-8, and empty or whitespace-only text.
    """
    if isinstance(data, str):
        try:
            raw = data.encode('utf-8')
        except UnicodeEncodeError as exc:  # lone surrogates
            raise DecodeError(f'text is not encodable as UTF-8: {exc.reason}') from exc
        if len(raw) > max_bytes:
            raise DecodeError(f'text is {len(raw)} bytes, over the limit of {max_bytes}')
        text = data
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if len(raw) > max_bytes:
            raise DecodeError(f'text is {len(raw)} bytes, over the limit of {max_bytes}')
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise DecodeError(f'text is not valid UTF-8 at byte {exc.start}: {exc.reason}') \
                from exc
    else:
        raise DecodeError(f'text must be str or bytes, got {type(data).__name__}')
    text = text.strip()
    if not text:
        raise DecodeError('text is empty or whitespace only')
    if '\x00' in text:
        raise DecodeError('text contains a NUL character')
    return text


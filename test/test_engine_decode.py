"""Image and text decoding: exact pixels against a slow reference, clear errors, fuzzing."""
import array
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carin_ros.engine.decode import (
    ENCODINGS,
    DecodeError,
    decode_image,
    decode_image_msg,
    decode_text,
    encode_image,
)

ORDER = {'rgb': (0, 1, 2), 'bgr': (2, 1, 0), 'rgba': (0, 1, 2), 'bgra': (2, 1, 0)}


def reference(width, height, encoding, is_bigendian, step, data):
    """Slow per-pixel decoding straight from the ROS encoding definitions."""
    enc = ENCODINGS[encoding]
    out = np.zeros((height, width, 3), np.uint8)
    for y in range(height):
        for x in range(width):
            base = y * step + x * enc.pixel_bytes
            if enc.channel_bytes == 2:
                hi = data[base] if is_bigendian else data[base + 1]
                out[y, x] = (hi, hi, hi)
            elif enc.order == 'mono':
                out[y, x] = (data[base],) * 3
            else:
                out[y, x] = tuple(data[base + i] for i in ORDER[enc.order])
    return out


@st.composite
def valid_images(draw):
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    enc = ENCODINGS[encoding]
    width, height = draw(st.integers(1, 9)), draw(st.integers(1, 7))
    step = width * enc.pixel_bytes + draw(st.integers(0, 5))
    data = draw(st.binary(min_size=step * height, max_size=step * height))
    return width, height, encoding, draw(st.sampled_from([0, 1])), step, data


@settings(max_examples=300, deadline=None)
@given(valid_images())
def test_valid_buffers_decode_to_reference_pixels(fields):
    out = decode_image(*fields)
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    assert out.shape == (fields[1], fields[0], 3)
    np.testing.assert_array_equal(out, reference(*fields))


@settings(max_examples=500, deadline=None)
@given(width=st.one_of(st.integers(-3, 12), st.just(True), st.floats(0, 5)),
       height=st.integers(-3, 12), step=st.integers(-5, 60),
       encoding=st.one_of(st.sampled_from(sorted(ENCODINGS) + ['yuv422', '32FC1', '']),
                          st.text(max_size=6), st.none()),
       is_bigendian=st.one_of(st.integers(-2, 3), st.booleans(), st.floats(0, 1)),
       data=st.one_of(st.binary(max_size=200), st.none(), st.text(max_size=5),
                      st.lists(st.integers(-1, 300), max_size=30)))
def test_random_fields_raise_only_decode_error(width, height, step, encoding, is_bigendian, data):
    try:
        out = decode_image(width, height, encoding, is_bigendian, step, data)
    except DecodeError as exc:
        assert exc.reason
    else:
        assert out.shape == (height, width, 3)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
def test_round_trip_with_padding(encoding):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    fields = encode_image(rgb, encoding, step=7 * ENCODINGS[encoding].pixel_bytes + 3)
    np.testing.assert_array_equal(decode_image(*fields), rgb)


def test_mono16_endianness():
    le = np.array([[0x1234, 0xFF00]], '<u2').tobytes()
    be = np.array([[0x1234, 0xFF00]], '>u2').tobytes()
    expect = np.array([[[0x12] * 3, [0xFF] * 3]], np.uint8)
    np.testing.assert_array_equal(decode_image(2, 1, 'mono16', 0, 4, le), expect)
    np.testing.assert_array_equal(decode_image(2, 1, '16UC1', 1, 4, be), expect)


def test_message_like_object_and_rclpy_array_data():
    msg = SimpleNamespace(width=2, height=1, encoding='mono8', is_bigendian=0, step=2,
                          data=array.array('B', [7, 9]))
    np.testing.assert_array_equal(decode_image_msg(msg)[0, :, 0], [7, 9])
    with pytest.raises(DecodeError, match='not an image message'):
        decode_image_msg(SimpleNamespace(width=1))


@pytest.mark.parametrize('fields, reason', [
    ((2, 2, 'yuv422', 0, 4, b'\0' * 8), 'unsupported encoding'),
    ((2, 2, 'rgb8', 0, 5, b'\0' * 10), 'step 5 is less than'),
    ((2, 2, 'rgb8', 0, 6, b'\0' * 11), r'expected step\*height'),
    ((0, 2, 'rgb8', 0, 6, b''), 'empty image'),
    ((2, 2, 'mono16', 2, 4, b'\0' * 8), 'is_bigendian must be 0 or 1'),
    ((2, 2, 'rgb8', 0, 6, None), 'no data'),
    ((2, 2, 'rgb8', 0, 6, np.zeros(12, np.float32)), 'must be uint8'),
])
def test_invalid_images_name_the_reason(fields, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_image(*fields)


def test_oversized_frames_rejected_before_touching_data():
    # 8K UHD is over the default 4096*4096 limit; the check needs no 100 MB buffer
    with pytest.raises(DecodeError, match='over the limit of 16777216'):
        decode_image(7680, 4320, 'rgb8', 0, 7680 * 3, b'')
    assert decode_image(4, 4, 'mono8', 0, 4, bytes(16), max_pixels=16).shape == (4, 4, 3)
    with pytest.raises(DecodeError, match='over the limit of 15'):
        decode_image(4, 4, 'mono8', 0, 4, bytes(16), max_pixels=15)


def test_decode_text():
    assert decode_text(b'  hello world \n') == 'hello world'
    assert decode_text('caf\u00e9') == 'caf\u00e9'
    for bad, reason in [(b'', 'empty'), ('  \t\n', 'empty'), (b'\xff\xfe', 'not valid UTF-8'),
                        ('x' * 11, 'over the limit of 10'), (b'x' * 11, 'over the limit of 10'),
                        (123, 'must be str or bytes'), ('a\x00b', 'NUL'),
                        ('\ud800', 'not encodable')]:
        with pytest.raises(DecodeError, match=reason):
            decode_text(bad, max_bytes=10)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=40), st.text(max_size=40)))
def test_random_text_raises_only_decode_error(data):
    try:
        out = decode_text(data, max_bytes=30)
    except DecodeError:
        return
    assert out and out == out.strip() and len(out.encode()) <= 30

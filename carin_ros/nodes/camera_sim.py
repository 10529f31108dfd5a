"""camera_sim node: publishes real packaged pictures as rgb8 sensor_msgs/Image at a rate."""
from __future__ import annotations

import sys
from collections.abc import Sequence

import cv2
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from sensor_msgs.msg import Image

from carin_ros.nodes.common import (
    SENSOR_QOS,
    float_param,
    int_param,
    run,
    text_param,
    until_shutdown,
)

# Pictures that ship with scikit-image (no download): name -> what it shows.
SAMPLE_IMAGES = {'chelsea': 'a tabby cat', 'astronaut': 'a face (Eileen Collins)',
                 'coffee': 'a cup of coffee', 'rocket': 'a rocket on the launch pad',
                 'camera': 'a cameraman (greyscale)', 'cat': 'a tabby cat (alias of chelsea)'}


def load_sample_image(name: str, width: int, height: int) -> np.ndarray:
    """An HxWx3 uint8 RGB picture from ``skimage.data``, resized to ``width`` x ``height``."""
    import skimage.data
    if name not in SAMPLE_IMAGES:
        raise ValueError(f'unknown sample image {name!r}; known: {sorted(SAMPLE_IMAGES)}')
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
    if img.shape[:2] != (height, width):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img


class CameraSim(Node):
    """Cycles through ``images`` (one picture per frame) at ``rate_hz`` on topic ``image``."""

    def __init__(self) -> None:
        super().__init__('camera_sim')
        rate = self.declare_parameter('rate_hz', 30.0, float_param(
            'frames per second', 0.1, 240.0, read_only=True)).value
        width = self.declare_parameter('width', 640, int_param(
            'frame width in pixels', 16, 4096, read_only=True)).value
        height = self.declare_parameter('height', 480, int_param(
            'frame height in pixels', 16, 4096, read_only=True)).value
        names = self.declare_parameter(
            'images', ['chelsea', 'astronaut', 'coffee', 'rocket'],
            ParameterDescriptor(type=ParameterType.PARAMETER_STRING_ARRAY, read_only=True,
                                description=f'skimage.data pictures to cycle through: '
                                            f'{", ".join(sorted(SAMPLE_IMAGES))}')).value
        self._frame_id = self.declare_parameter('frame_id', 'camera', text_param(
            'header.frame_id of every frame', read_only=True)).value
        self._frames_per_image = self.declare_parameter('frames_per_image', 1, int_param(
            'consecutive frames showing the same picture', 1, 100000, read_only=True)).value
        if not names:
            raise ValueError('camera_sim: parameter "images" is empty')
        self._msgs = []
        for name in names:
            pixels = load_sample_image(name, width, height)
            msg = Image(height=height, width=width, encoding='rgb8', is_bigendian=0,
                        step=width * 3)
            msg.data = pixels.tobytes()
            msg.header.frame_id = self._frame_id
            self._msgs.append(msg)
        self._names = list(names)
        self._count = 0
        self._pub = self.create_publisher(Image, 'image', SENSOR_QOS)
        self._timer = self.create_timer(1.0 / rate, until_shutdown(self, self._tick))
        self.get_logger().info(f'publishing {width}x{height} rgb8 at {rate:g} Hz: '
                               f'{", ".join(self._names)}')

    def _tick(self) -> None:
        msg = self._msgs[(self._count // self._frames_per_image) % len(self._msgs)]
        msg.header.stamp = self.get_clock().now().to_msg()
        self._pub.publish(msg)
        self._count += 1


def main(args: Sequence[str] | None = None) -> int:
    return run(CameraSim, args)


if __name__ == '__main__':
    sys.exit(main())

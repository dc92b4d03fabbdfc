"""sensor_msgs/Image <-> numpy with cv_bridge's API (the ROS 2 cv_bridge is not installable here).

``imgmsg_to_cv2(msg, desired_encoding="passthrough")`` and
``cv2_to_imgmsg(array, encoding="passthrough", header=None)`` behave like cv_bridge's
``CvBridge`` methods for the encodings cameras send: rgb8, bgr8, rgba8, bgra8, mono8, mono16,
16UC1/16SC1 (depth in mm), 32FC1 (depth in m), 8UC1/8UC3, and the camera-native Bayer mosaics
(bayer_rggb8/bggr8/gbrg8/grbg8 and their 16-bit forms, demosaiced by OpenCV) and YUV 4:2:2
(uyvy / yuv422, yuyv / yuv422_yuy2), converted to rgb8, bgr8 or mono8 (16 bits to 8: the high
byte). Row padding (``step`` larger than ``width * pixel size``) and big-endian data are handled;
anything else raises :class:`ImageConversionError` with a message naming the problem.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass

import cv2
import numpy as np
from sensor_msgs.msg import Image


class ImageConversionError(ValueError):
    """An image message or array that cannot be converted (unsupported encoding, bad size...)."""


@dataclass(frozen=True)
class _Encoding:
    dtype: np.dtype
    channels: int
    color: str | None  # channel order for colour conversions; None = not a colour image


_ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(np.dtype(np.uint8), 3, "rgb"),
    "bgr8": _Encoding(np.dtype(np.uint8), 3, "bgr"),
    "rgba8": _Encoding(np.dtype(np.uint8), 4, "rgba"),
    "bgra8": _Encoding(np.dtype(np.uint8), 4, "bgra"),
    "mono8": _Encoding(np.dtype(np.uint8), 1, "mono"),
    "mono16": _Encoding(np.dtype(np.uint16), 1, "mono"),
    "8UC1": _Encoding(np.dtype(np.uint8), 1, None),
    "8UC3": _Encoding(np.dtype(np.uint8), 3, None),
    "16UC1": _Encoding(np.dtype(np.uint16), 1, None),
    "16SC1": _Encoding(np.dtype(np.int16), 1, None),
    "32FC1": _Encoding(np.dtype(np.float32), 1, None),
    # Camera-native formats (Bayer ones added below), converted to rgb8 / bgr8 / mono8 on input.
    "uyvy": _Encoding(np.dtype(np.uint8), 2, "uyvy"),  # U Y0 V Y1 per pixel pair
    "yuv422": _Encoding(np.dtype(np.uint8), 2, "uyvy"),  # the older name of uyvy
    "yuyv": _Encoding(np.dtype(np.uint8), 2, "yuyv"),  # Y0 U Y1 V per pixel pair
    "yuv422_yuy2": _Encoding(np.dtype(np.uint8), 2, "yuyv"),  # the older name of yuyv
}

# ROS' Bayer pattern (filters of the 2x2 block at pixel (0, 0), row by row) -> OpenCV's name for it:
# OpenCV names a pattern by the block starting at (1, 1), so ROS' rggb is its BG.
_BAYER_OPENCV = {"rggb": "BG", "bggr": "RG", "gbrg": "GR", "grbg": "GB"}
for _pattern in _BAYER_OPENCV:
    for _bits, _dtype in ((8, np.uint8), (16, np.uint16)):
        _ENCODINGS[f"bayer_{_pattern}{_bits}"] = _Encoding(np.dtype(_dtype), 1, f"bayer_{_pattern}")

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)

# cv2.cvtColor codes between the colour encodings (source, destination) -> code.
_COLOR_CODES = {
    ("rgb", "bgr"): cv2.COLOR_RGB2BGR,
    ("bgr", "rgb"): cv2.COLOR_BGR2RGB,
    ("rgba", "bgra"): cv2.COLOR_RGBA2BGRA,
    ("bgra", "rgba"): cv2.COLOR_BGRA2RGBA,
    ("rgb", "rgba"): cv2.COLOR_RGB2RGBA,
    ("bgr", "bgra"): cv2.COLOR_BGR2BGRA,
    ("rgb", "bgra"): cv2.COLOR_RGB2BGRA,
    ("bgr", "rgba"): cv2.COLOR_BGR2RGBA,
    ("rgba", "rgb"): cv2.COLOR_RGBA2RGB,
    ("bgra", "bgr"): cv2.COLOR_BGRA2BGR,
    ("rgba", "bgr"): cv2.COLOR_RGBA2BGR,
    ("bgra", "rgb"): cv2.COLOR_BGRA2RGB,
    ("mono", "rgb"): cv2.COLOR_GRAY2RGB,
    ("mono", "bgr"): cv2.COLOR_GRAY2BGR,
    ("mono", "rgba"): cv2.COLOR_GRAY2RGBA,
    ("mono", "bgra"): cv2.COLOR_GRAY2BGRA,
    ("rgb", "mono"): cv2.COLOR_RGB2GRAY,
    ("bgr", "mono"): cv2.COLOR_BGR2GRAY,
    ("rgba", "mono"): cv2.COLOR_RGBA2GRAY,
    ("bgra", "mono"): cv2.COLOR_BGRA2GRAY,
    ("uyvy", "rgb"): cv2.COLOR_YUV2RGB_UYVY,
    ("uyvy", "bgr"): cv2.COLOR_YUV2BGR_UYVY,
    ("uyvy", "mono"): cv2.COLOR_YUV2GRAY_UYVY,
    ("yuyv", "rgb"): cv2.COLOR_YUV2RGB_YUY2,
    ("yuyv", "bgr"): cv2.COLOR_YUV2BGR_YUY2,
    ("yuyv", "mono"): cv2.COLOR_YUV2GRAY_YUY2,
}
for _pattern, _name in _BAYER_OPENCV.items():
    for _target, _suffix in (("rgb", "RGB"), ("bgr", "BGR"), ("mono", "GRAY")):
        _COLOR_CODES[(f"bayer_{_pattern}", _target)] = getattr(cv2, f"COLOR_Bayer{_name}2{_suffix}")


def _encoding(name: str) -> _Encoding:
    try:
        return _ENCODINGS[name]
    except KeyError:
        raise ImageConversionError(
            f"unsupported image encoding '{name}' (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        ) from None


def imgmsg_to_cv2(msg: Image, desired_encoding: str = "passthrough") -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` to a numpy array ``(H, W)`` or ``(H, W, C)``.

    ``desired_encoding="passthrough"`` keeps the message's encoding; otherwise colour images are
    converted (e.g. bgr8 -> rgb8, mono8 -> bgr8). The result owns its memory (never a view
    into the message buffer) and is in native byte order.
    """
    src = _encoding(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    row_bytes = width * src.channels * src.dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width*pixel size {row_bytes} for {msg.encoding} {width}x{height}"
        )
    data = np.frombuffer(msg.data, np.uint8)  # array.array('B') or bytes: no copy
    if data.size < step * height:
        raise ImageConversionError(
            f"truncated image data: {data.size} bytes, expected {step * height} ({width}x{height} "
            f"{msg.encoding}, step {step})"
        )
    rows = np.lib.stride_tricks.as_strided(data, shape=(height, row_bytes), strides=(step, 1))
    dtype = src.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    image = np.ascontiguousarray(rows).view(dtype).reshape(height, width, src.channels)
    image = image.astype(src.dtype.newbyteorder("="), copy=False)
    if src.channels == 1:
        image = image[:, :, 0]
    image = np.array(image, copy=True)
    if desired_encoding in ("passthrough", msg.encoding):
        return image
    return _convert_color(image, msg.encoding, desired_encoding)


def compressed_imgmsg_to_rgb(msg) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (JPEG or PNG, as image_transport's compressed plugin
    writes it; its ``format`` is e.g. ``"jpeg"`` or ``"rgb8; jpeg compressed bgr8"``) decoded to
    (H, W, 3) uint8 RGB. The codec stores colour as BGR (cv_bridge converts RGB inputs before
    encoding), so a 3-channel result is swapped to RGB; grey is expanded, alpha dropped, 16-bit PNG
    reduced to its high byte. ImageConversionError when the data does not decode."""
    data = np.frombuffer(msg.data, np.uint8)
    if "compresseddepth" in str(msg.format).lower():  # compressed_depth_image_transport (png, rvl)
        raise ImageConversionError(f"compressed depth format '{msg.format}' is not an image")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageConversionError(
            f"cannot decode the compressed image ({data.size} bytes, format '{msg.format}')"
        )
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def cv2_to_imgmsg(image: np.ndarray, encoding: str = "passthrough", header=None) -> Image:
    """Convert a numpy array ``(H, W)`` or ``(H, W, C)`` to a ``sensor_msgs/Image``.

    ``encoding="passthrough"`` picks the generic OpenCV-style name from the array (8UC1, 8UC3,
    16UC1, 32FC1...). The data is written densely (``step = width * pixel size``) in native
    byte order.
    """
    if not isinstance(image, np.ndarray):
        raise ImageConversionError(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageConversionError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if encoding == "passthrough":
        encoding = _passthrough_name(image.dtype, channels)
    enc = _encoding(encoding)
    if image.dtype != enc.dtype or channels != enc.channels:
        raise ImageConversionError(
            f"array {image.dtype} with {channels} channel(s) does not match encoding '{encoding}' "
            f"({enc.dtype}, {enc.channels} channel(s))"
        )
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = sys.byteorder == "big"
    msg.step = msg.width * enc.channels * enc.dtype.itemsize
    # array.array('B') takes the message's fast path (a bytes object is checked value by value).
    msg.data = array.array("B", np.ascontiguousarray(image).tobytes())
    return msg


def _passthrough_name(dtype: np.dtype, channels: int) -> str:
    for name, enc in _ENCODINGS.items():
        if enc.color is None and enc.dtype == dtype and enc.channels == channels:
            return name
    raise ImageConversionError(f"no passthrough encoding for {dtype} with {channels} channel(s)")


def _convert_color(image: np.ndarray, source: str, target: str) -> np.ndarray:
    """Colour conversion (cv_bridge's codes). 16-bit to 8-bit keeps the high byte (value >> 8);
    a camera-native source (Bayer, YUV 4:2:2) to rgba/bgra goes through rgb/bgr."""
    src, dst = _encoding(source), _encoding(target)
    if src.color is None or dst.color is None:
        raise ImageConversionError(f"cannot convert '{source}' to '{target}': not colour encodings")
    if src.dtype == np.uint16 and dst.dtype == np.uint8:
        image = (image >> 8).astype(np.uint8)
    elif src.dtype != dst.dtype:
        raise ImageConversionError(f"cannot convert '{source}' to '{target}': different bit depths")
    native = src.color.startswith(("bayer", "uyvy", "yuyv"))
    via = {"rgba": "rgb", "bgra": "bgr"}.get(dst.color) if native else None
    if via is not None:
        image = cv2.cvtColor(image, _COLOR_CODES[(src.color, via)])
        return cv2.cvtColor(image, _COLOR_CODES[(via, dst.color)])
    code = _COLOR_CODES.get((src.color, dst.color))
    if code is None:
        raise ImageConversionError(f"no conversion from '{source}' to '{target}'")
    return cv2.cvtColor(image, code)

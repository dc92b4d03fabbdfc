"""The image converter against cv_bridge's documented semantics, on the encodings cameras send."""

import array

import numpy as np
import pytest

from scorehmr_ros.ros.image_conversion import ImageConversionError, cv2_to_imgmsg, imgmsg_to_cv2

rng = np.random.default_rng(0)


def _msg_from_bytes(raw: bytes, width, height, encoding, step, bigendian=False):
    from sensor_msgs.msg import Image

    msg = Image(width=width, height=height, encoding=encoding, step=step, is_bigendian=bigendian)
    msg.data = array.array("B", raw)
    return msg


@pytest.mark.parametrize(
    "encoding,shape,dtype",
    [
        ("rgb8", (480, 640, 3), np.uint8),
        ("bgr8", (480, 640, 3), np.uint8),
        ("rgba8", (7, 5, 4), np.uint8),
        ("mono8", (480, 640), np.uint8),
        ("mono16", (6, 9), np.uint16),
        ("16UC1", (480, 640), np.uint16),
        ("32FC1", (4, 3), np.float32),
    ],
)
def test_round_trip_is_exact(encoding, shape, dtype):
    if np.issubdtype(dtype, np.integer):
        image = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
    else:
        image = rng.standard_normal(shape).astype(dtype)
    msg = cv2_to_imgmsg(image, encoding)
    assert (msg.width, msg.height, msg.encoding) == (shape[1], shape[0], encoding)
    assert msg.step == shape[1] * (shape[2] if len(shape) == 3 else 1) * np.dtype(dtype).itemsize
    back = imgmsg_to_cv2(msg)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, image)


def test_color_conversion_swaps_channels():
    rgb = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    msg = cv2_to_imgmsg(rgb, "rgb8")
    np.testing.assert_array_equal(imgmsg_to_cv2(msg, "bgr8"), rgb[..., ::-1])
    np.testing.assert_array_equal(imgmsg_to_cv2(msg, "rgb8"), rgb)
    mono = imgmsg_to_cv2(cv2_to_imgmsg(rgb[..., 0].copy(), "mono8"), "bgr8")
    assert mono.shape == (480, 640, 3) and np.array_equal(mono[..., 1], rgb[..., 0])


def test_row_padding_in_step_is_skipped():
    image = rng.integers(0, 255, size=(5, 7, 3), dtype=np.uint8)
    step = 7 * 3 + 11  # 11 bytes of padding per row
    raw = b"".join(row.tobytes() + b"\xee" * 11 for row in image)
    back = imgmsg_to_cv2(_msg_from_bytes(raw, 7, 5, "bgr8", step))
    np.testing.assert_array_equal(back, image)


def test_16uc1_depth_keeps_16_bits_big_and_little_endian():
    depth = np.array([[0, 1, 256], [1000, 40000, 65535]], dtype=np.uint16)
    little = imgmsg_to_cv2(_msg_from_bytes(depth.astype("<u2").tobytes(), 3, 2, "16UC1", 6))
    big = imgmsg_to_cv2(_msg_from_bytes(depth.astype(">u2").tobytes(), 3, 2, "16UC1", 6, bigendian=True))
    for back in (little, big):
        assert back.dtype == np.uint16
        np.testing.assert_array_equal(back, depth)


def test_padded_big_endian_depth():
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    raw = b"".join(row.astype(">u2").tobytes() + b"\0\0" for row in depth)
    np.testing.assert_array_equal(imgmsg_to_cv2(_msg_from_bytes(raw, 4, 3, "16UC1", 10, True)), depth)


@pytest.mark.parametrize(
    "raw,width,height,encoding,step,match",
    [
        (b"\0" * 12, 2, 2, "yuv422", 4, "unsupported image encoding 'yuv422'"),
        (b"\0" * 3, 2, 2, "mono8", 2, "truncated"),
        (b"", 0, 0, "rgb8", 0, "empty image"),
        (b"\0" * 12, 2, 2, "rgb8", 4, "step 4 is smaller"),
    ],
)
def test_bad_messages_raise_clear_errors(raw, width, height, encoding, step, match):
    with pytest.raises(ImageConversionError, match=match):
        imgmsg_to_cv2(_msg_from_bytes(raw, width, height, encoding, step))


def test_bad_arrays_raise_clear_errors():
    with pytest.raises(ImageConversionError, match="does not match encoding"):
        cv2_to_imgmsg(np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(ImageConversionError, match="unsupported"):
        cv2_to_imgmsg(np.zeros((4, 4, 3), np.uint8), "bayer_rggb8")
    with pytest.raises(ImageConversionError, match="cannot convert"):
        imgmsg_to_cv2(cv2_to_imgmsg(np.zeros((2, 2), np.uint16), "16UC1"), "bgr8")
    assert cv2_to_imgmsg(np.zeros((2, 3), np.float32)).encoding == "32FC1"

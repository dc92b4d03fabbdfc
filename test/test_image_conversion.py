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
        (b"\0" * 12, 2, 2, "nv21", 4, "unsupported image encoding 'nv21'"),
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
        cv2_to_imgmsg(np.zeros((4, 4, 3), np.uint8), "nv21")
    with pytest.raises(ImageConversionError, match="does not match encoding"):
        cv2_to_imgmsg(np.zeros((4, 4, 3), np.uint8), "bayer_rggb8")
    with pytest.raises(ImageConversionError, match="cannot convert"):
        imgmsg_to_cv2(cv2_to_imgmsg(np.zeros((2, 2), np.uint16), "16UC1"), "bgr8")
    assert cv2_to_imgmsg(np.zeros((2, 3), np.float32)).encoding == "32FC1"


def _smooth_rgb(h=48, w=64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([40 + 2 * xx, 30 + 3 * yy, 200 - xx - yy], -1).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_mosaics_are_demosaiced_to_the_colours_they_sampled(pattern, bits):
    """A smooth RGB image sampled through the named colour filter array (first letter: the filter
    at pixel (0, 0), row by row) comes back as that image (away from the border); a wrong pattern
    mapping swaps or mixes channels by tens of grey levels."""
    rgb = _smooth_rgb()
    mosaic = np.zeros(rgb.shape[:2], np.uint8)
    for letter, (dy, dx) in zip(pattern, [(0, 0), (0, 1), (1, 0), (1, 1)], strict=True):
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(letter)]
    raw = mosaic if bits == 8 else mosaic.astype(np.uint16) << 8 | 0x5A  # low byte: noise to drop
    msg = cv2_to_imgmsg(raw, f"bayer_{pattern}{bits}")
    for target, expected in (("rgb8", rgb), ("bgr8", rgb[..., ::-1]), ("rgba8", None)):
        out = imgmsg_to_cv2(msg, target)
        if expected is None:
            assert out.shape == (*rgb.shape[:2], 4) and (out[..., 3] == 255).all()
            expected, out = rgb, out[..., :3]
        assert np.abs(out.astype(int) - expected)[2:-2, 2:-2].max() <= 2, target
    assert imgmsg_to_cv2(msg, "mono8").shape == rgb.shape[:2]


def _yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    """(H, W, 2) uint8 4:2:2 of ``rgb`` (BT.601 studio range, chroma averaged per pixel pair)."""
    x = rgb.astype(np.float64)
    y = 16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255
    u = 128 + (-37.797 * x[..., 0] - 74.203 * x[..., 1] + 112.0 * x[..., 2]) / 255
    v = 128 + (112.0 * x[..., 0] - 93.786 * x[..., 1] - 18.214 * x[..., 2]) / 255
    u2 = np.repeat(0.5 * (u[:, 0::2] + u[:, 1::2]), 2, axis=1)
    v2 = np.repeat(0.5 * (v[:, 0::2] + v[:, 1::2]), 2, axis=1)
    chroma = np.where(np.arange(rgb.shape[1]) % 2 == 0, u2, v2)  # U on even pixels, V on odd
    pair = (chroma, y) if order == "uyvy" else (y, chroma)
    return np.stack(pair, -1).round().clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("encoding", ["uyvy", "yuv422", "yuyv", "yuv422_yuy2"])
def test_yuv422_is_converted_to_rgb(encoding):
    rgb = _smooth_rgb()
    order = "uyvy" if encoding in ("uyvy", "yuv422") else "yuyv"
    msg = cv2_to_imgmsg(_yuv422(rgb, order), encoding)
    assert msg.step == 64 * 2
    out = imgmsg_to_cv2(msg, "rgb8")
    assert np.abs(out.astype(int) - rgb).mean() < 2.0 and np.abs(out.astype(int) - rgb).max() <= 8
    assert np.abs(imgmsg_to_cv2(msg, "bgr8").astype(int) - rgb[..., ::-1]).mean() < 2.0


def test_mono16_to_rgb8_keeps_the_high_byte():
    mono = rng.integers(0, 65535, size=(6, 9), dtype=np.uint16)
    out = imgmsg_to_cv2(cv2_to_imgmsg(mono, "mono16"), "rgb8")
    assert out.dtype == np.uint8 and np.array_equal(out[..., 0], (mono >> 8).astype(np.uint8))


def _compressed(image_bgr: np.ndarray, ext: str, fmt: str):
    import cv2
    from sensor_msgs.msg import CompressedImage

    ok, buf = cv2.imencode(ext, image_bgr)
    assert ok
    msg = CompressedImage(format=fmt)
    msg.data = array.array("B", buf.tobytes())
    return msg


def test_compressed_images_decode_to_rgb():
    """JPEG / PNG as image_transport's compressed plugin writes them (colour stored BGR): decoded
    to RGB; grey and 16-bit PNG expanded / reduced; data that does not decode, and compressed
    depth, raise a clear error."""
    from scorehmr_ros.ros.image_conversion import compressed_imgmsg_to_rgb

    rgb = _smooth_rgb()
    png = compressed_imgmsg_to_rgb(_compressed(rgb[..., ::-1].copy(), ".png", "rgb8; png compressed bgr8"))
    np.testing.assert_array_equal(png, rgb)
    jpeg = compressed_imgmsg_to_rgb(_compressed(rgb[..., ::-1].copy(), ".jpg", "jpeg"))
    assert jpeg.shape == rgb.shape and np.abs(jpeg.astype(int) - rgb).mean() < 3.0
    grey = compressed_imgmsg_to_rgb(_compressed(rgb[..., 1].copy(), ".png", "mono8; png compressed mono8"))
    assert grey.shape == rgb.shape and np.array_equal(grey[..., 0], rgb[..., 1])
    deep = (rgb[..., 0].astype(np.uint16) << 8) | 0x33
    np.testing.assert_array_equal(
        compressed_imgmsg_to_rgb(_compressed(deep, ".png", "png"))[..., 2], rgb[..., 0]
    )
    broken = _compressed(rgb, ".jpg", "jpeg")
    broken.data = broken.data[:40]
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_imgmsg_to_rgb(broken)
    with pytest.raises(ImageConversionError, match="compressed depth"):
        compressed_imgmsg_to_rgb(_compressed(deep, ".png", "16UC1; compressedDepth png"))

"""Every image mode reaches the model as RGB uint8, identically on both paths."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abyssexp.datasets.images import probe_image, read_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def _write(tmp_path: Path, name: str, image: Image.Image, **save) -> Path:
    path = tmp_path / name
    image.save(path, **save)
    return path


def _cases(tmp_path: Path) -> dict[str, Path]:
    rgba = np.dstack([RGB, RNG.integers(0, 256, (20, 30), dtype=np.uint8)])
    gray16 = (RNG.integers(0, 65536, (20, 30))).astype(np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    cases = {
        "rgb.jpg": _write(tmp_path, "rgb.jpg", Image.fromarray(RGB), quality=95),
        "upper.JPG": _write(tmp_path, "upper.JPG", Image.fromarray(RGB), format="JPEG"),
        "gray.jpg": _write(tmp_path, "gray.jpg", Image.fromarray(RGB[..., 0])),
        "cmyk.jpg": _write(tmp_path, "cmyk.jpg", Image.fromarray(RGB).convert("CMYK")),
        "exif.jpg": _write(tmp_path, "exif.jpg", Image.fromarray(RGB), exif=exif),
        "rgb.png": _write(tmp_path, "rgb.png", Image.fromarray(RGB)),
        "rgba.png": _write(tmp_path, "rgba.png", Image.fromarray(rgba)),
        "gray.png": _write(tmp_path, "gray.png", Image.fromarray(RGB[..., 1])),
        "palette.png": _write(tmp_path, "palette.png", Image.fromarray(RGB).convert("P")),
        "gray16.png": _write(tmp_path, "gray16.png", Image.fromarray(gray16)),
        "rgb.bmp": _write(tmp_path, "rgb.bmp", Image.fromarray(RGB)),
    }
    return cases


def test_every_mode_is_rgb_uint8(tmp_path: Path) -> None:
    cases = _cases(tmp_path)
    for name, path in cases.items():
        image = read_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
    assert read_image(cases["exif.jpg"]).shape == (30, 20, 3)  # orientation applied
    assert read_image(cases["rgb.jpg"]).shape == (20, 30, 3)
    np.testing.assert_array_equal(read_image(cases["rgb.png"]), RGB)
    np.testing.assert_array_equal(read_image(cases["rgba.png"]), RGB)
    gray = read_image(cases["gray.png"])
    assert (gray[..., 0] == gray[..., 2]).all()
    assert probe_image(cases["exif.jpg"]).kind == "pil"
    assert probe_image(cases["rgb.jpg"]).kind == "jpeg"
    assert probe_image(cases["gray16.png"]).kind == "pil"


def test_tf_path_gives_the_same_pixels(tmp_path: Path) -> None:
    import tensorflow as tf

    from abyssexp.datasets.pipeline import decode_image, decode_plan

    cases = _cases(tmp_path)
    paths = list(cases.values())
    plan = decode_plan(paths, (8, 8), dct_scaling=False)
    for (name, path), kind in zip(cases.items(), plan, strict=True):
        from_tf = decode_image(tf.constant(str(path)), tf.constant(kind)).numpy()
        expected = read_image(path)
        assert from_tf.shape == expected.shape, name
        # Identical decoders: JPEGs with libjpeg's accurate DCT match Pillow exactly.
        np.testing.assert_array_equal(from_tf, expected, err_msg=name)


def test_corrupt_and_missing_images_are_clear(tmp_path: Path) -> None:
    from abyssexp.errors import DatasetError

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DatasetError, match="bad.jpg: cannot decode"):
        read_image(bad)
    with pytest.raises(DatasetError, match="image file not found"):
        read_image(tmp_path / "none.jpg")


def test_decompression_bomb_is_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trust #14: a 630-byte JPEG declaring 65000×65000 gave Pillow's DecompressionBombError.
    from abyssexp.datasets.images import ImageTooLargeError
    from abyssexp.errors import DatasetError
    from tests.conftest import write_bomb_jpeg

    bomb = write_bomb_jpeg(tmp_path / "bomb.jpg")
    for read in (read_image, probe_image):
        with pytest.raises(DatasetError) as info:
            read(bomb)
        message = str(info.value)
        assert isinstance(info.value, ImageTooLargeError) and "\n" not in message
        assert message.startswith(f"{bomb}: image is 4225000000 pixels")
        assert "limit of 100000000 pixels" in message and "ABYSSEXP_MAX_IMAGE_PIXELS" in message
    # Between Pillow's warning and error thresholds: our limit, with the size in the message.
    mid = write_bomb_jpeg(tmp_path / "mid.jpg", 12000, 10000)
    with pytest.raises(ImageTooLargeError, match=r"12000×10000 \(120000000 pixels\)"):
        probe_image(mid)
    monkeypatch.setenv("ABYSSEXP_MAX_IMAGE_PIXELS", "200000000")
    assert probe_image(mid).width == 12000  # the limit is the user's to raise
    monkeypatch.setenv("ABYSSEXP_MAX_IMAGE_PIXELS", "50")
    small = tmp_path / "small.png"
    Image.new("RGB", (8, 8)).save(small)
    with pytest.raises(ImageTooLargeError, match=r"8×8 \(64 pixels\), over the limit of 50"):
        read_image(small)
    monkeypatch.setenv("ABYSSEXP_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(DatasetError, match="ABYSSEXP_MAX_IMAGE_PIXELS='lots' must be a positive"):
        read_image(small)

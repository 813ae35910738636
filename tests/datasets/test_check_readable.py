"""``check_readable`` (what ``data check`` decodes): as strict as a full decode, cheaper."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abyssexp.datasets.images import check_readable, read_image
from abyssexp.errors import DatasetError


def _jpeg(progressive: bool) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90, progressive=progressive)
    return buffer.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
def test_a_truncated_jpeg_fails_as_in_a_full_decode(tmp_path: Path, progressive: bool) -> None:
    good, cut = tmp_path / "good.jpg", tmp_path / "cut.jpg"
    data = _jpeg(progressive)
    good.write_bytes(data)
    cut.write_bytes(data[: len(data) // 2])
    check_readable(good)
    with pytest.raises(DatasetError, match="cut.jpg: cannot decode"):
        read_image(cut)
    with pytest.raises(DatasetError, match="cut.jpg: cannot decode"):
        check_readable(cut)


def test_other_formats_and_missing_files(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(png)
    check_readable(png)
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(DatasetError, match="cannot decode"):
        check_readable(tmp_path / "text.jpg")
    with pytest.raises(DatasetError, match="not found"):
        check_readable(tmp_path / "missing.jpg")


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "CMYK", "I;16"])
def test_every_mode_read_image_reads_is_readable(tmp_path: Path, mode: str) -> None:
    """The check skips the array copy of an RGB image only; other modes convert as read_image."""
    pixels = np.random.default_rng(1).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode if mode != "I;16" else "I")
    path = tmp_path / ("a.tif" if mode in ("CMYK", "I;16") else "a.png")
    image.save(path)
    read_image(path)
    check_readable(path)


def test_exif_orientation_is_read_and_a_missing_file_has_its_own_error(tmp_path: Path) -> None:
    from abyssexp.datasets.images import ImageNotFoundError

    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((16, 32, 3), dtype=np.uint8)).save(path, exif=exif.tobytes())
    assert read_image(path).shape == (32, 16, 3)
    check_readable(path)
    with pytest.raises(ImageNotFoundError, match="not found"):
        check_readable(tmp_path / "gone.jpg")


def test_many_images_on_processes_keep_each_verdict_in_order(tmp_path: Path) -> None:
    """Above the process-pool threshold: the missing and damaged files are the ones named."""
    from abyssexp.datasets.check import PROCESS_POOL_FROM, _decode_all

    data = _jpeg(progressive=False)
    images = []
    for index in range(PROCESS_POOL_FROM + 40):
        path = tmp_path / f"{index}.jpg"
        if index == 7:
            path.write_bytes(data[: len(data) // 2])
        elif index != PROCESS_POOL_FROM + 3:
            path.write_bytes(data)
        images.append((index, path.name, path))
    seen: list[int] = []
    failures = _decode_all(images, lambda done, total: seen.append(done), workers=2)
    assert failures.corrupt == [(7, "7.jpg")]
    assert failures.missing == [(PROCESS_POOL_FROM + 3, f"{PROCESS_POOL_FROM + 3}.jpg")]
    assert seen == list(range(1, len(images) + 1))
    assert _decode_all(images, None, workers=1).corrupt == [(7, "7.jpg")]

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

"""Every image reaches the model as 3-channel RGB uint8, whatever the file holds.

RGBA, LA and palette images lose their alpha channel (as TensorFlow's decoders do), grayscale is
replicated to three channels, CMYK is converted, 16-bit images are scaled to 8 bits, and the EXIF
orientation is applied. ``probe_image`` tells the tf.data path which files its native decoders read
identically; the rest go through ``read_image`` there too, so both paths give the same pixels.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from abyssexp.errors import DatasetError, shorten

EXIF_ORIENTATION = 0x0112
#: Decoded by TensorFlow's native JPEG decoder exactly as by Pillow.
TF_JPEG_MODES = {"RGB", "L"}
#: Decoded by TensorFlow's native PNG decoder exactly as by Pillow (8-bit only).
TF_PNG_MODES = {"RGB", "RGBA", "L", "LA"}
#: The environment variable that raises (or lowers) the largest image abyssexp decodes.
MAX_PIXELS_ENV = "ABYSSEXP_MAX_IMAGE_PIXELS"
#: 100 megapixels: 300 MB decoded, larger than any camera's frame. A 630-byte JPEG can declare
#: 65000×65000 (12.7 GB decoded), so the header is checked before any pixel is decoded.
DEFAULT_MAX_PIXELS = 100_000_000

#: What an image is read from: a file's path, or its bytes in memory (``io.BytesIO``: a request's
#: body, which has no path; ``name`` then says what it was in messages).
ImageSource = str | Path | IO[bytes]


class ImageTooLargeError(DatasetError):
    """An image whose header declares more pixels than ``max_image_pixels()``."""


class ImageNotFoundError(DatasetError):
    """An image file that is not there (``data check`` counts these apart from damaged ones)."""


def max_image_pixels() -> int:
    """The pixel limit: ``$ABYSSEXP_MAX_IMAGE_PIXELS`` or 100 megapixels."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise DatasetError(
            f"{MAX_PIXELS_ENV}={raw[:40]!r} must be a positive whole number of pixels, e.g. "
            f"{DEFAULT_MAX_PIXELS}"
        )
    return value


def _too_large(path: ImageSource, declared: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{path}: image is {declared}, over the limit of {limit} pixels; if it is real, set "
        f"{MAX_PIXELS_ENV} higher"
    )


@contextmanager
def open_image(path: ImageSource, name: str | None = None) -> Iterator[Image.Image]:
    """``Image.open`` with the size from the header checked against ``max_image_pixels()``.

    Pillow's own bomb check (a warning at 89 megapixels, an error at twice that) is replaced by
    ours: one limit, the same for every reader, and an error that says how to raise it.
    ``name`` stands for ``path`` in messages (bytes in memory have no path of their own).

    Raises:
        ImageTooLargeError: the header declares more pixels than the limit.
        FileNotFoundError, UnidentifiedImageError, OSError: as ``Image.open``.
    """
    limit = max_image_pixels()
    if limit > (Image.MAX_IMAGE_PIXELS or limit):
        Image.MAX_IMAGE_PIXELS = limit  # the user raised the limit: Pillow must not refuse first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            declared = f"{found.group(1)} pixels" if found else "too large to open"
            raise _too_large(name or path, declared, limit) from None
    with image:
        width, height = image.size
        if width * height > limit:
            raise _too_large(name or path, f"{width}×{height} ({width * height} pixels)", limit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield image


@dataclass(frozen=True)
class ImageProbe:
    """What the header of an image file says, without decoding pixels."""

    kind: str  # "jpeg", "png" or "pil" (anything the native decoders would not match)
    width: int
    height: int


def probe_image(path: ImageSource, name: str | None = None) -> ImageProbe:
    """Classify an image for the fast path by reading its header only (``name``: what
    messages call ``path``)."""
    name = name or str(path)
    try:
        with open_image(path, name) as image:
            width, height = image.size
            orientation = 1
            if image.format == "JPEG":
                orientation = image.getexif().get(EXIF_ORIENTATION, 1)
                if image.mode in TF_JPEG_MODES and orientation == 1:
                    return ImageProbe("jpeg", width, height)
            elif image.format == "PNG" and image.mode in TF_PNG_MODES:
                return ImageProbe("png", width, height)
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            return ImageProbe("pil", width, height)
    except FileNotFoundError:
        raise DatasetError(f"{name}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{name}: cannot read the image ({shorten(str(exc), 80)})") from None


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert a Pillow image of any mode to an H×W×3 uint8 array."""
    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image)
        if mode == "F":
            array = np.clip(array, 0, 255).astype(np.uint8)
        elif array.dtype == np.int32 and array.max(initial=0) <= 255 and mode == "I":
            array = array.astype(np.uint8)
        else:
            array = (array.astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(array[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def check_readable(path: str | Path) -> None:
    """Prove an image file decodes, at the least cost: the header (format, size within
    ``max_image_pixels()``), then every byte of the image data decoded. A JPEG is decoded in
    draft mode (DCT scaling to 1/8 per side: libjpeg still reads and entropy-decodes every
    scan, so a truncated or damaged stream fails as in a full decode, but skips most of the
    inverse DCT and colour conversion); other formats are decoded whole. Then what
    ``read_image`` does after decoding, where it can fail: the EXIF block is parsed and its
    orientation applied (in place, no copy), and a mode other than RGB is converted. An RGB
    image is not copied into an array: that step cannot fail.

    Raises:
        ImageNotFoundError: the file is not there.
        DatasetError, ImageTooLargeError: as ``read_image``.
    """
    try:
        with open_image(path) as image:
            if image.format == "JPEG":
                width, height = image.size
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            if image.mode != "RGB":
                to_rgb_array(image)
    except FileNotFoundError:
        raise ImageNotFoundError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot decode the image ({shorten(str(exc), 80)})") from None


def read_image(path: ImageSource, name: str | None = None) -> np.ndarray:
    """Read an image file (or bytes in memory, called ``name`` in messages) as H×W×3 RGB
    uint8."""
    name = name or str(path)
    try:
        with open_image(path, name) as image:
            image.load()
            return to_rgb_array(image)
    except FileNotFoundError:
        raise ImageNotFoundError(f"{name}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{name}: cannot decode the image ({shorten(str(exc), 80)})") from None

"""Every image reaches the model as 3-channel RGB uint8, whatever the file holds.

RGBA, LA and palette images lose their alpha channel (as TensorFlow's decoders do), grayscale is
replicated to three channels, CMYK is converted, 16-bit images are scaled to 8 bits, and the EXIF
orientation is applied. ``probe_image`` tells the tf.data path which files its native decoders read
identically; the rest go through ``read_image`` there too, so both paths give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from abyssexp.errors import DatasetError

EXIF_ORIENTATION = 0x0112
#: Decoded by TensorFlow's native JPEG decoder exactly as by Pillow.
TF_JPEG_MODES = {"RGB", "L"}
#: Decoded by TensorFlow's native PNG decoder exactly as by Pillow (8-bit only).
TF_PNG_MODES = {"RGB", "RGBA", "L", "LA"}


@dataclass(frozen=True)
class ImageProbe:
    """What the header of an image file says, without decoding pixels."""

    kind: str  # "jpeg", "png" or "pil" (anything the native decoders would not match)
    width: int
    height: int


def probe_image(path: str | Path) -> ImageProbe:
    """Classify an image for the fast path by reading its header only."""
    try:
        with Image.open(path) as image:
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
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read the image ({exc})") from None


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


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as H×W×3 RGB uint8."""
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb_array(image)
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DatasetError(f"{path}: cannot decode the image ({exc})") from None

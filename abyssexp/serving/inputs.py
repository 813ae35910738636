"""A request's image bytes → the model's input, by ``predict``'s own preprocessing.

The header is read first (format, size against the pixel limit ``predict`` has: a 630-byte
JPEG can declare 65000×65000), then the bytes are decoded and resized by
``datasets.pipeline.prepare_image``, the function ``predict`` runs on files: same decoder
choice (libjpeg's DCT scaling for large JPEGs, Pillow for what TensorFlow would read
differently), same bilinear resize. Nothing here touches the file system: the bytes never
become a path.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from abyssexp.errors import DatasetError


class NotAnImageError(DatasetError):
    """A request body that is not an image abyssexp can read."""


@lru_cache(maxsize=4)
def _preparer(input_size: tuple[int, int]) -> Callable[..., object]:
    """``prepare_image`` traced once per input size (a tensor kind chooses the decoder)."""
    import tensorflow as tf

    from abyssexp.datasets.pipeline import prepare_image

    @tf.function(
        input_signature=[
            tf.TensorSpec([], tf.string),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.string),
        ],
        autograph=False,
    )
    def prepare(contents: tf.Tensor, kind: tf.Tensor, name: tf.Tensor) -> tf.Tensor:
        return prepare_image(contents, kind, input_size, name)

    return prepare


def prepare_bytes(data: bytes, input_size: tuple[int, int], name: str) -> np.ndarray:
    """One encoded image → uint8 H×W×3 at ``input_size``, exactly as ``predict`` reads a file.

    Raises:
        ImageTooLargeError: the header declares more pixels than the limit.
        NotAnImageError: not an image, or its data does not decode.
    """
    import tensorflow as tf

    from abyssexp.datasets.images import ImageTooLargeError, probe_image
    from abyssexp.datasets.pipeline import decode_kind

    try:
        probe = probe_image(io.BytesIO(data), name)
    except ImageTooLargeError:
        raise
    except DatasetError as exc:
        # Pillow names a buffer by its repr (<_io.BytesIO object at 0x...>): say "the bytes".
        reason = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the bytes", str(exc))
        raise NotAnImageError(reason) from None
    kind = decode_kind(probe, input_size)
    try:
        image = _preparer(input_size)(tf.constant(data), tf.constant(kind), tf.constant(name))
    except (tf.errors.OpError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise NotAnImageError(f"{name}: cannot decode the image ({first})") from None
    return np.asarray(image)


def warm_up(input_size: tuple[int, int]) -> None:
    """Trace the preparer before the first request (a JPEG and a PNG made here), so no
    request pays for it."""
    from PIL import Image

    for kind in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        Image.new("RGB", (input_size[1] * 2, input_size[0] * 2), (90, 40, 10)).save(buffer, kind)
        prepare_bytes(buffer.getvalue(), input_size, f"warm-up {kind}")

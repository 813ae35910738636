"""Near-duplicate images: the perceptual hash, and a sub-quadratic search for close hashes.

The rule was chosen by measurement (``benchmarks/bench_near_duplicates.py``, figures in
docs/performance.md), on the image as it is shown (EXIF orientation applied): two images are
near-duplicates when their 64-bit perceptual hashes (``imagehash.phash``: the 8×8 lowest
frequencies of the 32×32 grey image's DCT, one bit per coefficient above the median) differ in at
most ``NEAR_DISTANCE`` bits (and their wavelet hashes in at most ``CONFIRM_DISTANCE``), or their
difference and wavelet hashes both differ in at most ``AGREEMENT_DISTANCE`` (flat images, where
the perceptual hash is unstable); and, either way, their colours (``chroma``: the red and green
shares of all light) are within ``CHROMA_DISTANCE``. The hashes are of the grey image, so on their
own they matched different photos of one dark, smooth scene (candled eggs in a real Roboflow
export, a yellow one and a red one 2 bits apart); the colour check removed every false pair of
the benchmark, which let the hash threshold rise from 8 to 10 bits. On real photos and the
synthetic shapes (64 and 32 px) the rule finds 0.983–1.000 of the copies re-encoded at JPEG
quality 50–95 or resized 0.5–2× at precision 0.993–1.000 (goal 0.98 / 0.99: met), where the
difference hash used before found 0.46–0.79 (it flips on flat areas and ignores the EXIF
orientation). Crops are the known weak spot (recall 0.92 at 5 %, 0.55 at 10 %).

Search: multi-index hashing. Two 64-bit hashes within 8 bits differ in at most 2 bits in one of
their four 16-bit quarters (pigeonhole), so each quarter's table is probed with every key within
2 bits (137 probes), and only those candidates get the full distance: about n·137·4·n/65536
comparisons instead of n²/2.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: Differing bits of 64 within which two perceptual hashes are near-duplicates (the measured
#: choice: 8 loses 2.7 % of the copies re-encoded at quality 50; 12 finds crops better but
#: costs the search five times the probes; without the colour check, 10 doubled false pairs)...
NEAR_DISTANCE = 10
#: ...provided their wavelet hashes are within this many bits too (a loose confirmation: with
#: the flat-image rule below it cut false pairs among 295 distinct images from 5 to 2, at the
#: cost of 1 copy of 295 at 0.5× and 2×; pictures that met by chance were 28 bits apart).
CONFIRM_DISTANCE = 16
#: Or: both the difference and the wavelet hash within this many bits. On flat images (a smooth
#: gradient, a plain background) the perceptual hash's median threshold splits near-zero DCT
#: coefficients, and a re-encoding flips half its bits, where those two hashes hold.
AGREEMENT_DISTANCE = 4
#: And their colours (``chroma``) within this many 1/255 of each share of red and of green: grey
#: hashes match different pictures of one dark, smooth scene (a candled egg, yellow in one photo
#: and red in the other: perceptual hashes 2 bits apart in a real export).
CHROMA_DISTANCE = 8
#: What the cached signatures are (a different kind invalidates the cache).
HASH_KIND = "phash+dhash+whash64+chroma-exif"
#: Longest side Pillow's JPEG draft mode may reduce an image to before hashing (the hashes are
#: computed at 32×32 or less; decoding at 1/8 scale is several times cheaper for a photo).
DRAFT_SIDE = 64
_CHUNKS = 4
_CHUNK_BITS = 16

#: An image's signature: its perceptual, difference and wavelet hashes (64 bits each) and its
#: ``chroma`` (16 bits).
Signature = tuple[int, int, int, int]


def image_signature(path: Path | str) -> Signature | None:
    """The hashes of the image as shown (EXIF orientation applied), and its colour
    (``chroma``), or None when it does not decode."""
    import imagehash
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image.draft("RGB", (DRAFT_SIDE, DRAFT_SIDE))
            shown = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None  # unreadable, or a decompression bomb: counted as not decoded by the caller
    grey = shown.convert("L")
    hashes = (imagehash.phash(grey), imagehash.dhash(grey), imagehash.whash(grey))
    perceptual, difference, wavelet = (int(str(h), 16) for h in hashes)
    return perceptual, difference, wavelet, chroma(shown)


def chroma(image: Image.Image) -> int:
    """The image's overall colour, whatever its brightness: the red and green shares of all
    light, ``R/(R+G+B)`` and ``G/(R+G+B)`` summed over the pixels, at 8 bits each, packed as
    ``red << 8 | green`` (a grey or black image: 85, 85)."""
    red, green, blue = (sum(i * n for i, n in enumerate(band.histogram())) for band in
                        image.split())  # fmt: skip
    total = red + green + blue
    if not total:
        return 85 << 8 | 85
    return round(255 * red / total) << 8 | round(255 * green / total)


def chroma_distance(first: int, second: int) -> int:
    """The larger difference of the red and of the green shares, in 1/255."""
    return max(abs((first >> 8) - (second >> 8)), abs((first & 0xFF) - (second & 0xFF)))


def near_duplicate_pairs(
    signatures: Sequence[Signature], max_distance: int = NEAR_DISTANCE
) -> list[tuple[int, int, int]]:
    """Pairs ``(i, j, perceptual distance)``, ``i < j``, of near-duplicate images: perceptual
    hashes within ``max_distance`` bits and wavelet hashes within ``CONFIRM_DISTANCE``, or
    difference and wavelet hashes both within ``AGREEMENT_DISTANCE``; colours within
    ``CHROMA_DISTANCE`` either way."""
    wavelet = [s[2] for s in signatures]
    colour = [s[3] for s in signatures]
    found = {
        (i, j): d
        for i, j, d in close_pairs([s[0] for s in signatures], max_distance)
        if (wavelet[i] ^ wavelet[j]).bit_count() <= CONFIRM_DISTANCE
    }
    for i, j, _ in close_pairs([s[1] for s in signatures], AGREEMENT_DISTANCE):
        if (wavelet[i] ^ wavelet[j]).bit_count() <= AGREEMENT_DISTANCE:
            found.setdefault((i, j), (signatures[i][0] ^ signatures[j][0]).bit_count())
    return [
        (i, j, d)
        for (i, j), d in sorted(found.items())
        if chroma_distance(colour[i], colour[j]) <= CHROMA_DISTANCE
    ]


def _popcount(values: np.ndarray) -> np.ndarray:
    import numpy as np

    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    return np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def _probe_masks(radius: int) -> list[int]:
    """Every 16-bit mask with at most ``radius`` bits set."""
    masks = [0]
    for bits in range(1, radius + 1):
        for chosen in itertools.combinations(range(_CHUNK_BITS), bits):
            masks.append(sum(1 << b for b in chosen))
    return masks


def close_pairs(
    hashes: Sequence[int], max_distance: int = NEAR_DISTANCE
) -> list[tuple[int, int, int]]:
    """Every pair ``(i, j, distance)``, ``i < j``, of hashes within ``max_distance`` bits.

    Multi-index hashing (see the module docstring); exact, the same pairs as comparing all.
    """
    import numpy as np

    values = np.asarray([h & (2**64 - 1) for h in hashes], dtype=np.uint64)
    n = len(values)
    if n < 2:
        return []
    masks = _probe_masks(max_distance // _CHUNKS)
    found: list[np.ndarray] = []
    for chunk in range(_CHUNKS):
        keys = ((values >> np.uint64(chunk * _CHUNK_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        starts = np.zeros(65537, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=65536), out=starts[1:])
        for mask in masks:
            found.append(_probe(values, keys, order, starts, mask, max_distance))
    merged = np.unique(np.concatenate(found))
    first, second = merged // n, merged % n
    distance = _popcount(values[first] ^ values[second])
    return [(int(a), int(b), int(d)) for a, b, d in zip(first, second, distance, strict=True)]


def _probe(
    values: np.ndarray,
    keys: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    mask: int,
    max_distance: int,
) -> np.ndarray:
    """Pairs (as ``i * n + j``) whose quarter ``keys`` differ by ``mask`` and whose whole hashes
    are within ``max_distance``."""
    import numpy as np

    wanted = keys ^ mask
    low, counts = starts[wanted], starts[wanted + 1] - starts[wanted]
    queries = np.repeat(np.arange(len(keys)), counts)
    if not len(queries):
        return np.empty(0, dtype=np.int64)
    offsets = np.arange(len(queries)) - np.repeat(np.cumsum(counts) - counts, counts)
    others = order[np.repeat(low, counts) + offsets]
    later = queries < others
    queries, others = queries[later], others[later]
    close = _popcount(values[queries] ^ values[others]) <= max_distance
    return queries[close] * len(keys) + others[close]

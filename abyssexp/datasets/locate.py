"""Where a COCO file's images are: the folder, and the ``file_name`` prefixes export tools add.

Annotation tools put images in different places relative to the COCO file:

- CVAT (COCO 1.0): ``annotations/instances_<subset>.json`` with the images in ``images/<subset>/``
  or ``images/`` beside ``annotations/``;
- Roboflow: ``_annotations.coco.json`` inside each split folder, next to its images;
- Label Studio: ``result.json`` with ``file_name``s such as ``images/abc-photo.jpg`` (or
  ``/data/upload/3/abc-photo.jpg``), a prefix that no longer matches once the images are moved.

``find_image_dir`` tries those folders in a fixed order on a sample of the images and says which it
chose and why; ``resolve_image_path`` drops leading ``file_name`` components until the file is
found, so a prefix the export added does not stop an image being found. Nothing here decodes an
image or imports TensorFlow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: How many images (spread over the file) are looked for in each candidate folder.
SAMPLE_SIZE = 64
_SUBSET_FILE = re.compile(r"^(?:instances|person_keypoints|captions|image_info)_(.+)\.json$")


@dataclass(frozen=True)
class ImageFolder:
    """The folder a split's ``file_name``s are read from, and how it was chosen."""

    path: Path
    how: str
    found: int
    sampled: int

    def describe(self) -> str:
        return f"images: {self.path} ({self.how}; {self.found}/{self.sampled} sampled found)"


def _parts(file_name: str) -> list[str]:
    return [part for part in file_name.replace("\\", "/").split("/") if part not in ("", ".")]


def resolve_image_path(image: Mapping[str, Any], image_dir: Path) -> Path:
    """Where an image's file is.

    The image's ``path`` field when that file exists; else ``image_dir/file_name``; else the first
    existing file after dropping leading components of ``file_name`` (``images/a.jpg`` →
    ``a.jpg``, ``/data/upload/3/a.jpg`` → ``a.jpg``); else ``image_dir/file_name`` (missing).
    """
    return Path(locate_image(image, str(image_dir))[0])


def locate_image(image: Mapping[str, Any], image_dir: str) -> tuple[str, bool]:
    """``resolve_image_path`` on strings (it runs once per image of large files), and whether
    the file exists."""
    given = image.get("path")
    if given and os.path.isfile(given):
        return given, True
    file_name = str(image["file_name"])
    direct = os.path.join(image_dir, file_name)
    if os.path.isfile(direct):
        return direct, True
    parts = _parts(file_name)
    for start in range(1, len(parts)):
        candidate = os.path.join(image_dir, *parts[start:])
        if os.path.isfile(candidate):
            return candidate, True
    return direct, False


def candidate_image_dirs(coco_path: Path) -> list[tuple[Path, str]]:
    """The folders export tools put images in, in the order they are tried."""
    folder = coco_path.resolve().parent
    candidates = [
        (folder, "the COCO file's folder"),
        (folder / "images", "images/ beside the COCO file"),
    ]
    if folder.name == "annotations":
        root = folder.parent
        subset = _SUBSET_FILE.match(coco_path.name)
        if subset:
            candidates.append(
                (
                    root / "images" / subset.group(1),
                    f"images/{subset.group(1)}/ beside annotations/",
                )
            )
        candidates += [
            (root / "images", "images/ beside annotations/"),
            (root, "the parent of annotations/"),
        ]
    return candidates


def _sample(images: Sequence[Mapping[str, Any]], size: int = SAMPLE_SIZE) -> list[Any]:
    if len(images) <= size:
        return list(images)
    step = len(images) / size
    return [images[int(i * step)] for i in range(size)]


def find_image_dir(
    coco_path: Path, images: Sequence[Mapping[str, Any]], given: Path | None = None
) -> ImageFolder:
    """The images folder of ``coco_path``: ``given`` (made absolute against the current
    directory), else the first candidate folder where most sampled images are found."""
    sample = _sample(images)
    if given is not None:
        path = Path(given).expanduser().absolute()
        found = sum(resolve_image_path(image, path).is_file() for image in sample)
        return ImageFolder(path, f"given as {given}", found, len(sample))
    best: ImageFolder | None = None
    for path, how in candidate_image_dirs(coco_path):
        if not path.is_dir():
            continue
        found = sum(resolve_image_path(image, path).is_file() for image in sample)
        if best is None or found > best.found:
            best = ImageFolder(path, how, found, len(sample))
        if found == len(sample):
            break
    if best is None or best.found == 0:
        folder = coco_path.resolve().parent
        return ImageFolder(
            folder, "the COCO file's folder; no candidate holds the images", 0, len(sample)
        )
    return best


def missing_images(images: Sequence[Mapping[str, Any]], image_dir: Path) -> list[tuple[Any, str]]:
    """``(image id, file_name)`` of every image whose file does not exist (nothing is decoded)."""
    folder = str(image_dir)
    return [
        (image["id"], str(image["file_name"]))
        for image in images
        if not locate_image(image, folder)[1]
    ]

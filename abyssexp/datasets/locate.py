"""Where a COCO file's images are: the folder, and the ``file_name`` prefixes export tools add.

Annotation tools put images in different places relative to the COCO file:

- CVAT (COCO 1.0): ``annotations/instances_<subset>.json`` with the images in ``images/<subset>/``
  or ``images/`` beside ``annotations/``;
- Roboflow: ``_annotations.coco.json`` inside each split folder, next to its images;
- Label Studio: ``result.json`` with ``file_name``s such as ``images/abc-photo.jpg`` (or
  ``/data/upload/3/abc-photo.jpg``), a prefix that no longer matches once the images are moved.

``find_image_dir`` tries those folders in a fixed order on a sample of the images and says which it
chose and why; ``resolve_image_path`` drops leading ``file_name`` components until the file is
found, so a prefix the export added does not stop an image being found. ``require_images`` is the
one check every command that reads images runs (``data check``, ``data split``, ``test``,
``predict --coco``, ``new``): when files are missing its message names the folders tried, every
missing name whole, and the ``--image-dir`` line to type. Nothing here decodes an image or imports
TensorFlow.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abyssexp.errors import InvalidInputError, first_few

#: How many images (spread over the file) are looked for in each candidate folder.
SAMPLE_SIZE = 64
_SUBSET_FILE = re.compile(r"^(?:instances|person_keypoints|captions|image_info)_(.+)\.json$")
#: How a folder found through the images' own ``path`` fields is described.
PATH_FIELD = "the images' path field"
#: Bounds of the search for a missing image near the COCO file (the ``--image-dir`` suggestion).
SEARCH_DEPTH = 4
SEARCH_FOLDERS = 2000


@dataclass(frozen=True)
class ImageFolder:
    """The folder a split's ``file_name``s are read from, and how it was chosen."""

    path: Path
    how: str
    found: int
    sampled: int
    tried: tuple[tuple[Path, str], ...] = ()

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


def _path_field_folder(sample: Sequence[Mapping[str, Any]]) -> Path | None:
    """The folder holding every sampled image's ``path`` file (what ``data split`` writes), or
    None when some sampled image has no existing ``path``."""
    given = [image.get("path") for image in sample]
    paths = [p for p in given if isinstance(p, str) and os.path.isfile(p)]
    if not given or len(paths) != len(given):
        return None
    return Path(os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]))


def find_image_dir(
    coco_path: Path, images: Sequence[Mapping[str, Any]], given: Path | None = None
) -> ImageFolder:
    """The images folder of ``coco_path``: ``given`` (made absolute against the current
    directory), else the folder the images' ``path`` fields point into, else the first candidate
    folder where most sampled images are found. ``tried`` lists every folder looked at."""
    sample = _sample(images)
    if given is not None:
        path = Path(given).expanduser().absolute()
        found = sum(resolve_image_path(image, path).is_file() for image in sample)
        how = f"given as {given}"
        return ImageFolder(path, how, found, len(sample), ((path, how),))
    through_path = _path_field_folder(sample)
    if through_path is not None:
        return ImageFolder(through_path, PATH_FIELD, len(sample), len(sample))
    best: ImageFolder | None = None
    tried: list[tuple[Path, str]] = []
    for path, how in candidate_image_dirs(coco_path):
        if not path.is_dir():
            continue
        tried.append((path, how))
        found = sum(resolve_image_path(image, path).is_file() for image in sample)
        if best is None or found > best.found:
            best = ImageFolder(path, how, found, len(sample))
        if found == len(sample):
            break
    if best is None or best.found == 0:
        folder = coco_path.resolve().parent
        how = "the COCO file's folder; no candidate holds the images"
        return ImageFolder(folder, how, 0, len(sample), tuple(tried))
    return ImageFolder(best.path, best.how, best.found, best.sampled, tuple(tried))


def missing_images(images: Sequence[Mapping[str, Any]], image_dir: Path) -> list[tuple[Any, str]]:
    """``(image id, file_name)`` of every image whose file does not exist (nothing is decoded)."""
    folder = str(image_dir)
    return [
        (image["id"], str(image["file_name"]))
        for image in images
        if not locate_image(image, folder)[1]
    ]


def _search_roots(coco_path: Path) -> list[Path]:
    folder = coco_path.resolve().parent
    return [folder.parent if folder.name == "annotations" else folder]


def suggest_image_dir(coco_path: Path, image: Mapping[str, Any]) -> Path | None:
    """A folder near ``coco_path`` (below its folder, or below the export's root for CVAT) where
    ``image``'s file is found, or None. The walk is bounded (``SEARCH_DEPTH`` levels,
    ``SEARCH_FOLDERS`` folders), skips hidden folders and never follows a symlinked folder."""
    wanted = _parts(str(image.get("file_name", "")))[-1:]
    if not wanted:
        return None
    visited = 0
    for root in _search_roots(coco_path):
        base = len(root.parts)
        for folder, dirs, files in os.walk(root):
            visited += 1
            if visited > SEARCH_FOLDERS:
                return None
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if len(Path(folder).parts) - base >= SEARCH_DEPTH:
                dirs[:] = []
            if wanted[0] in files and locate_image({**image, "path": None}, folder)[1]:
                return Path(folder)
    return None


def missing_message(
    coco_path: Path,
    folder: ImageFolder,
    missing: Sequence[tuple[Any, str]],
    total: int,
    option: str = "--image-dir",
    images: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The one message for image files that are not where they were looked for: the folders
    tried, the missing names whole (never cut: a user has to find them), and the option line to
    type (with the folder where the first missing file was found nearby, when it was)."""
    tried = folder.tried or ((folder.path, folder.how),)
    where = "; ".join(f"{path} ({how})" for path, how in tried)
    first = next((i for i in images if i.get("id") == missing[0][0]), None) if missing else None
    nearby = suggest_image_dir(coco_path, first) if first is not None else None
    line = f"{option} {shlex.quote(str(nearby))}" if nearby else f"{option} FOLDER"
    hint = "" if nearby else " (FOLDER: the one holding these files)"
    return (
        f"{coco_path}: {len(missing)} of {total} image file(s) not found; tried: {where}; "
        f"missing: {first_few([name for _, name in missing], width=None)} "
        f"(image ids {first_few([image_id for image_id, _ in missing])}); "
        f"give the images folder: {line}{hint}"
    )


def require_images(
    coco_path: Path,
    images: Sequence[Mapping[str, Any]],
    given: Path | None = None,
    option: str = "--image-dir",
) -> ImageFolder:
    """``find_image_dir``, then every image file checked to exist (nothing is decoded).

    Raises:
        InvalidInputError: some files are missing (``missing_message`` says where it looked and
            what to type).
    """
    folder = find_image_dir(coco_path, images, given)
    missing = missing_images(images, folder.path)
    if missing:
        raise InvalidInputError(
            missing_message(coco_path, folder, missing, len(images), option, images)
        )
    return folder


def require_coco_images(
    coco_path: Path, given: Path | None = None, option: str = "--image-dir"
) -> ImageFolder:
    """``require_images`` on a COCO file read here: what ``test --coco`` runs before it loads
    TensorFlow, so a wrong folder costs a second, not a model load."""
    from abyssexp.datasets.quick import load_coco_json

    if not Path(coco_path).is_file():
        raise InvalidInputError(f"{coco_path}: file not found; give an existing COCO file")
    return require_images(coco_path, load_coco_json(coco_path)["images"], given, option)

"""Cheap COCO checks that need neither pycocotools nor TensorFlow (used by ``abyssexp new``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from abyssexp.errors import DatasetError


def load_coco_json(path: Path) -> dict[str, Any]:
    """Read a COCO file as JSON and check its top-level shape.

    Raises:
        DatasetError: unreadable, truncated or not a COCO object (names the file and the fix).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: COCO file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the COCO file ({exc.strerror})") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (
            f" (line {exc.lineno}, column {exc.colno}: {exc.msg})" if hasattr(exc, "lineno") else ""
        )
        raise DatasetError(
            f"{path}: not valid JSON{where}; is the file truncated? Regenerate it "
            "(datasets/make-datasets.sh)"
        ) from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a COCO file is a JSON object with images and annotations")
    for key in ("images", "annotations"):
        if key not in data:
            raise DatasetError(f"{path}: missing the {key!r} list that every COCO file has")
        if not isinstance(data[key], list):
            raise DatasetError(f"{path}: {key!r} must be a list")
    if "categories" in data and not isinstance(data["categories"], list):
        raise DatasetError(f"{path}: 'categories' must be a list")
    for index, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            raise DatasetError(f"{path}: images[{index}] needs an 'id' and a 'file_name'")
    for index, annotation in enumerate(data["annotations"]):
        if not isinstance(annotation, dict) or "image_id" not in annotation:
            raise DatasetError(f"{path}: annotations[{index}] needs an 'image_id'")
    for index, category in enumerate(data.get("categories", [])):
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise DatasetError(f"{path}: categories[{index}] needs an 'id' and a 'name'")
    return data


def quick_check_coco(path: Path) -> dict[str, Any]:
    """Structure, duplicate ids and dangling references; no image is opened."""
    data = load_coco_json(path)
    image_ids = [image["id"] for image in data["images"]]
    duplicates = (
        sorted({i for i in image_ids if image_ids.count(i) > 1})
        if len(set(image_ids)) != len(image_ids)
        else []
    )
    if duplicates:
        raise DatasetError(
            f"{path}: duplicate image ids {duplicates[:5]}; image ids must be unique"
        )
    known_images = set(image_ids)
    dangling = [a.get("id") for a in data["annotations"] if a["image_id"] not in known_images]
    if dangling:
        raise DatasetError(
            f"{path}: {len(dangling)} annotation(s) point at missing images (annotation ids "
            f"{dangling[:5]})"
        )
    known_categories = {c["id"] for c in data.get("categories", [])}
    unknown = [
        a.get("id")
        for a in data["annotations"]
        if "category_id" in a and a["category_id"] not in known_categories
    ]
    if unknown:
        raise DatasetError(
            f"{path}: {len(unknown)} annotation(s) use unknown category ids (annotation ids "
            f"{unknown[:5]})"
        )
    return data


def build_category_map_from_file(path: Path, by: str) -> dict[str, int]:
    from abyssexp.datasets.category_map import build_category_map

    return build_category_map(load_coco_json(path).get("categories", []), by, source=str(path))

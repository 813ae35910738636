"""Cheap COCO checks that need neither pycocotools nor TensorFlow (used by ``abyssexp new``)."""

from __future__ import annotations

import json
from collections import Counter
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


def first_ids(values: list[Any], shown: int = 5) -> str:
    text = ", ".join(str(v) for v in values[:shown])
    return text + (", ..." if len(values) > shown else "")


def structure_problems(data: dict[str, Any]) -> list[str]:
    """Duplicate image ids and annotations pointing at missing images or categories, one grouped
    line each (counts and the first few ids). Shared by ``new`` and ``data check``."""
    problems = []
    counts = Counter(image["id"] for image in data["images"])
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        problems.append(f"{len(duplicates)} duplicate image id(s): {first_ids(duplicates)}")
    dangling = [a.get("id") for a in data["annotations"] if a["image_id"] not in counts]
    if dangling:
        problems.append(
            f"{len(dangling)} annotation(s) point at missing images "
            f"(annotation ids {first_ids(dangling)})"
        )
    known_categories = {c["id"] for c in data.get("categories", [])}
    unknown = [
        a
        for a in data["annotations"]
        if "category_id" in a and a["category_id"] not in known_categories
    ]
    if unknown:
        bad = sorted({a["category_id"] for a in unknown})
        problems.append(
            f"{len(unknown)} annotation(s) use unknown category ids {first_ids(bad)} "
            f"(annotation ids {first_ids([a.get('id') for a in unknown])})"
        )
    return problems


def quick_check_coco(path: Path) -> dict[str, Any]:
    """Structure, duplicate ids and dangling references; no image is opened."""
    data = load_coco_json(path)
    problems = structure_problems(data)
    if problems:
        more = (
            f" (and {len(problems) - 1} more; see `abyssexp data check {path}`)"
            if len(problems) > 1
            else ""
        )
        raise DatasetError(f"{path}: {problems[0]}{more}")
    return data


def build_category_map_from_file(path: Path, by: str) -> dict[str, int]:
    from abyssexp.datasets.category_map import build_category_map

    return build_category_map(load_coco_json(path).get("categories", []), by, source=str(path))

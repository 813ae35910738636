"""Cheap COCO checks that need neither pycocotools nor TensorFlow (used by ``abyssexp new``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from abyssexp.errors import DatasetError, first_few, shorten
from abyssexp.jsonio import read_json


def load_coco_json(path: Path) -> dict[str, Any]:
    """Read a COCO file as JSON and check its shape: the fields abyssexp uses have the right types.

    Raises:
        DatasetError: unreadable, truncated, nested too deeply or not a COCO object (names the
            file, the field and the fix).
    """
    data = read_json(
        path,
        str(path),
        DatasetError,
        hint="; is the file truncated? Regenerate it (datasets/make-datasets.sh)",
        max_depth=None,  # a large file is parsed once; nothing walks it recursively
    )
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
        _require(path, f"images[{index}].id", image["id"], _is_id, "an integer")
        _require(
            path, f"images[{index}].file_name", image["file_name"], _is_file_name, "a file name"
        )
        if image.get("path") is not None:
            _require(path, f"images[{index}].path", image["path"], _is_file_name, "a path")
    categorised = "categories" in data
    for index, annotation in enumerate(data["annotations"]):
        if not isinstance(annotation, dict) or "image_id" not in annotation:
            raise DatasetError(f"{path}: annotations[{index}] needs an 'image_id'")
        where = f"annotations[{index}]"
        _require(path, f"{where}.image_id", annotation["image_id"], _is_id, "an integer")
        # pycocotools indexes annotations by id, and by category when the file has categories.
        if "id" not in annotation:
            raise DatasetError(f"{path}: {where} needs an 'id' (a unique integer per annotation)")
        _require(path, f"{where}.id", annotation["id"], _is_id, "an integer")
        if "category_id" in annotation:
            _require(path, f"{where}.category_id", annotation["category_id"], _is_id, "an integer")
        elif categorised:
            raise DatasetError(
                f"{path}: {where} has no 'category_id' though the file lists categories; give "
                "it the id of its category (captions alone: a file without 'categories')"
            )
        if annotation.get("bbox") is not None:
            _require(path, f"{where}.bbox", annotation["bbox"], _is_bbox, "a list of numbers")
        if annotation.get("area") is not None:
            _require(path, f"{where}.area", annotation["area"], _is_number, "a number")
        segmentation = annotation.get("segmentation")
        if isinstance(segmentation, list):
            _require(path, f"{where}.segmentation", segmentation, _is_polygons, "polygons")
    for index, category in enumerate(data.get("categories", [])):
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise DatasetError(f"{path}: categories[{index}] needs an 'id' and a 'name'")
        _require(path, f"categories[{index}].id", category["id"], _is_id, "an integer")
        _require(path, f"categories[{index}].name", category["name"], _is_text, "a string")
        if category.get("supercategory") is not None:
            _require(
                path,
                f"categories[{index}].supercategory",
                category["supercategory"],
                _is_text,
                "a string",
            )
    return data


def _is_file_name(value: Any) -> bool:
    """Text no file system refuses outright: a NUL byte cannot be in any path."""
    return _is_text(value) and "\x00" not in value


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bbox(value: Any) -> bool:
    return isinstance(value, list) and all(map(_is_number, value))


def _is_polygons(value: list[Any]) -> bool:
    # Polygons are lists of numbers; checking every coordinate of a large file would cost more
    # than the labels are worth, so the shape is checked and the numbers where they are used.
    return all(isinstance(polygon, list) for polygon in value)


def _require(path: Path, field: str, value: Any, check: Any, expected: str) -> None:
    if not check(value):
        raise DatasetError(
            f"{path}: {field} must be {expected}. Received: {shorten(repr(value), 40)}"
        )


def first_ids(values: list[Any], shown: int = 5) -> str:
    return first_few(values, shown)


def structure_problems(data: dict[str, Any]) -> list[str]:
    """Duplicate image ids and annotations pointing at missing images or categories, one grouped
    line each (counts and the first few ids). Shared by ``new`` and ``data check``."""
    problems = []
    counts = Counter(image["id"] for image in data["images"])
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        problems.append(f"{len(duplicates)} duplicate image id(s): {first_ids(duplicates)}")
    dangling = [a for a in data["annotations"] if a["image_id"] not in counts]
    if dangling:
        missing = sorted({a["image_id"] for a in dangling})
        problems.append(
            f"{len(dangling)} annotation(s) point at missing images (image ids "
            f"{first_ids(missing)}; annotation ids {first_ids([a.get('id') for a in dangling])})"
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


def build_category_map_from_file(path: Path, by: str) -> tuple[dict[str, int], list[str]]:
    """``map_by``'s map from a COCO file (placeholder categories dropped) and its notes."""
    from abyssexp.datasets.category_map import automatic_category_map

    return automatic_category_map(load_coco_json(path), by, source=str(path))

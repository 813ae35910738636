"""``abyssexp data check``: is this COCO file usable for classification, and what is in it?

Problems are grouped (one line each, with counts and the first few ids); nothing raises past
``check_coco`` for bad data, so the CLI can print every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from abyssexp.datasets.quick import first_ids
from abyssexp.errors import DatasetError


@dataclass
class CheckReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "stats": self.stats,
        }


def _decode_all(
    paths: list[tuple[int, Path]],
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> tuple[list[int], list[int]]:
    from abyssexp.datasets.images import read_image

    missing: list[int] = []
    corrupt: list[int] = []

    def one(item: tuple[int, Path]) -> tuple[int, str | None]:
        image_id, path = item
        if not path.is_file():
            return image_id, "missing"
        try:
            read_image(path)
        except DatasetError:
            return image_id, "corrupt"
        return image_id, None

    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for image_id, status in pool.map(one, paths):
            if status == "missing":
                missing.append(image_id)
            elif status == "corrupt":
                corrupt.append(image_id)
            done += 1
            if progress:
                progress(done, len(paths))
    return missing, corrupt


def check_coco(
    path: Path,
    category_map: str | dict[str, int] | None = None,
    map_by: str | None = None,
    image_dir: Path | None = None,
    translator: str = "category",
    caption_map: str | dict[str, int] | None = None,
    label_source: str = "any",
    softmax: bool = True,
    decode: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 8,
) -> CheckReport:
    """Check a COCO file for image classification; see the module docstring."""
    from abyssexp.datasets.coco import (
        ImageClassificationDataset,
        make_translator,
        resolve_image_path,
    )
    from abyssexp.datasets.quick import load_coco_json, structure_problems

    report = CheckReport(Path(path))
    try:
        data = load_coco_json(Path(path))
    except DatasetError as exc:
        report.problems.append(str(exc).removeprefix(f"{path}: "))
        return report
    report.problems.extend(structure_problems(data))
    if report.problems:
        return report
    settings = SimpleNamespace(
        translator=translator,
        caption_map=caption_map,
        ignore_unmapped_captions=False,
        category_map=category_map,
        map_by=map_by,
        label_source=label_source,
    )
    try:
        label_translator = make_translator(
            settings, list(data.get("categories", [])), Path.cwd(), str(path)
        )
        dataset = ImageClassificationDataset(
            path, translator=label_translator, image_dir=image_dir, unlabelled="zeros"
        )
    except DatasetError as exc:
        report.problems.append(str(exc))
        return report
    image_dir = dataset.image_dir
    labelled = [i for i, labels in enumerate(dataset.labels) if labels]
    counts = dataset.class_counts
    names = dataset.class_names
    nonzero = [c for c in counts.values() if c]
    report.stats = {
        "images": len(data["images"]),
        "annotations": len(data["annotations"]),
        "labelled": len(labelled),
        "unlabelled": len(dataset.unlabelled_ids),
        "multilabel": len(dataset.multilabel_ids),
        "classes": dataset.num_classes,
        "class_counts": {names[k]: v for k, v in counts.items()},
        "imbalance_ratio": (max(nonzero) / min(nonzero)) if nonzero else None,
    }
    empty = [names[k] for k, v in counts.items() if v == 0]
    if empty:
        report.warnings.append(f"{len(empty)} class(es) have no image: {first_ids(empty)}")
    if dataset.unlabelled_ids:
        report.warnings.append(
            f"{len(dataset.unlabelled_ids)} image(s) carry no mapped label (ids "
            f"{first_ids(dataset.unlabelled_ids)}); dataset.unlabelled decides (default: drop)"
        )
    if dataset.multilabel_ids and softmax:
        report.warnings.append(
            f"{len(dataset.multilabel_ids)} image(s) have several distinct labels (ids "
            f"{first_ids(dataset.multilabel_ids)}); with softmax they share the target equally "
            "(dataset.softmax_multilabel=share) or are dropped (=drop); sigmoid keeps them all"
        )
    if decode:
        paths = [(image["id"], resolve_image_path(image, image_dir)) for image in data["images"]]
        missing, corrupt = _decode_all(paths, progress, workers)
        if missing:
            report.problems.append(
                f"{len(missing)} image file(s) missing under {image_dir} (image ids {first_ids(missing)})"
            )
        if corrupt:
            report.problems.append(
                f"{len(corrupt)} image file(s) do not decode (image ids {first_ids(corrupt)})"
            )
    return report

"""``abyssexp data check``: is this COCO file usable for classification, and what is in it?

Problems are grouped (one line each, with counts, the first few file names and ids); nothing raises
past ``check_coco`` for bad data, so the CLI can print every problem at once. A file is usable when
it lists images, at least one of them carries a mapped label, and every image file decodes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from abyssexp.datasets.quick import first_ids
from abyssexp.errors import DatasetError, first_few


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


@dataclass
class _ImageFailures:
    """Images that cannot be used, by reason: (image id, file name) pairs and one example."""

    missing: list[tuple[Any, str]] = field(default_factory=list)
    corrupt: list[tuple[Any, str]] = field(default_factory=list)
    too_large: list[tuple[Any, str]] = field(default_factory=list)
    example: dict[str, str] = field(default_factory=dict)


def _decode_all(
    images: list[tuple[Any, str, Path]],
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> _ImageFailures:
    from abyssexp.datasets.images import ImageTooLargeError, read_image

    def one(item: tuple[Any, str, Path]) -> tuple[str | None, str]:
        _, _, path = item
        if not path.is_file():
            return "missing", ""
        try:
            read_image(path)
        except ImageTooLargeError as exc:
            return "too_large", str(exc).removeprefix(f"{path}: ")
        except DatasetError as exc:
            return "corrupt", str(exc).removeprefix(f"{path}: ")
        return None, ""

    failures = _ImageFailures()
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (image_id, file_name, _), (status, reason) in zip(
            images, pool.map(one, images), strict=True
        ):
            if status is not None:
                getattr(failures, status).append((image_id, file_name))
                failures.example.setdefault(status, reason)
            done += 1
            if progress:
                progress(done, len(images))
    return failures


def _image_problems(failures: _ImageFailures, image_dir: Path) -> list[str]:
    """One line per reason, naming the first few files and their image ids."""

    def named(pairs: list[tuple[Any, str]]) -> str:
        return (
            f"{first_few([name for _, name in pairs])} "
            f"(image ids {first_few([image_id for image_id, _ in pairs])})"
        )

    problems = []
    if failures.missing:
        problems.append(
            f"{len(failures.missing)} image file(s) missing under {image_dir}: "
            f"{named(failures.missing)}"
        )
    if failures.corrupt:
        problems.append(
            f"{len(failures.corrupt)} image file(s) do not decode: {named(failures.corrupt)}; "
            f"first: {failures.example['corrupt']}"
        )
    if failures.too_large:
        problems.append(
            f"{len(failures.too_large)} image file(s) too large: {named(failures.too_large)}; "
            f"first: {failures.example['too_large']}"
        )
    return problems


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
    if not data["images"]:
        report.problems.append("the file lists no images; nothing to train or test on")
    elif not labelled:
        report.problems.append(
            f"none of its {len(data['images'])} image(s) carries a label: {len(data['annotations'])} "
            "annotation(s), none mapped to a logit; check the category map, "
            "--label-source and --translator"
        )
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
        images = [
            (image["id"], str(image["file_name"]), resolve_image_path(image, image_dir))
            for image in data["images"]
        ]
        report.problems.extend(_image_problems(_decode_all(images, progress, workers), image_dir))
    return report

"""``abyssexp data check``: is this COCO file usable for classification, and what is in it?

Problems are grouped (one line each, with counts, the first few file names and ids); nothing raises
past ``check_coco`` for bad data, so the CLI can print every problem at once. A file is usable when
its class table has 2 or more classes with images (a background class counts), every class has a
labelled image in the training file and in the validation file (when given), no two classes share
a name, and every image file exists (and decodes, unless decoding is skipped).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from abyssexp.datasets.dialects import detect_dialect
from abyssexp.datasets.locate import find_image_dir
from abyssexp.datasets.quick import first_ids
from abyssexp.datasets.translators import CategoryTranslator
from abyssexp.errors import DatasetError, first_few


@dataclass
class CheckReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    #: What was found and decided (the images folder, the dialect, a dropped placeholder).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "notes": self.notes,
            "stats": self.stats,
        }


@dataclass
class _ImageFailures:
    """Images that cannot be used, by reason: (image id, file name) pairs and one example."""

    missing: list[tuple[Any, str]] = field(default_factory=list)
    corrupt: list[tuple[Any, str]] = field(default_factory=list)
    too_large: list[tuple[Any, str]] = field(default_factory=list)
    example: dict[str, str] = field(default_factory=dict)


#: Below this many images, threads in this process (no start-up cost); above, one process per
#: core, because decoding also runs Python code (EXIF, mode conversion) that holds the GIL.
PROCESS_POOL_FROM = 512


def _decode_one(path: Path) -> tuple[str | None, str]:
    """Decode one image: (None, "") or (reason kind, message). Top level, so processes can run it.
    ``check_readable`` says what a file must pass (a JPEG is decoded in draft mode)."""
    from abyssexp.datasets.images import ImageTooLargeError, check_readable

    if not path.is_file():
        return "missing", ""
    try:
        check_readable(path)
    except ImageTooLargeError as exc:
        return "too_large", str(exc).removeprefix(f"{path}: ")
    except DatasetError as exc:
        return "corrupt", str(exc).removeprefix(f"{path}: ")
    return None, ""


def _pool(count: int, workers: int) -> Any:
    if count < PROCESS_POOL_FROM or workers < 2:
        return ThreadPoolExecutor(max_workers=workers)
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))


def _decode_all(
    images: list[tuple[Any, str, Path]],
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> _ImageFailures:
    """Decode every image on ``workers`` cores, reporting progress as results arrive in order."""
    failures = _ImageFailures()
    chunk = max(1, min(64, len(images) // (workers * 8) or 1))
    with _pool(len(images), workers) as pool:
        results = pool.map(_decode_one, [path for _, _, path in images], chunksize=chunk)
        for done, ((image_id, file_name, _), (status, reason)) in enumerate(
            zip(images, results, strict=True), start=1
        ):
            if status is not None:
                getattr(failures, status).append((image_id, file_name))
                failures.example.setdefault(status, reason)
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


@dataclass(frozen=True)
class CheckOptions:
    """How the data will be read: the same settings ``params.dataset`` holds."""

    category_map: str | dict[str, int] | None = None
    map_by: str | None = None
    image_dir: Path | None = None
    translator: str = "category"
    caption_map: str | dict[str, int] | None = None
    label_source: str = "any"
    softmax: bool = True
    unlabelled: str = "drop"
    background_name: str = "background"
    multilabel: str = "drop"
    val: Path | None = None
    val_image_dir: Path | None = None
    decode: bool = True
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)


def check_coco(
    path: Path,
    options: CheckOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> CheckReport:
    """Check a COCO file (and a validation file) for image classification.

    Args:
        path: the (training) COCO file.
        options: how it will be read; keyword ``settings`` build one when not given.
        progress: called with (images decoded, images in all).

    Returns:
        The report: problems (not usable), warnings, notes and statistics.
    """
    options = options or CheckOptions(**settings)
    report = CheckReport(Path(path))
    loaded = _load(Path(path), report)
    if loaded is None:
        return report
    data = loaded
    dialect = detect_dialect(data, Path(path))
    if dialect.describe():
        report.notes.append(dialect.describe())
    folder = find_image_dir(Path(path), data["images"], options.image_dir)
    report.notes.append(folder.describe())
    try:
        labels = _label_space(Path(path), data, options, report)
        dataset = _dataset(Path(path), labels, folder.path, options, data)
    except DatasetError as exc:
        report.problems.append(str(exc))
        return report
    report.stats = _stats(data, dataset, labels, options)
    report.stats["image_dir"] = str(folder.path)
    report.stats["dialect"] = dialect.tool
    report.problems.extend(_verdict(data, dataset, labels, options))
    report.warnings.extend(_warnings(dataset, options))
    if options.val is not None:
        _check_val(options.val, labels, options, report)
    report.problems.extend(_file_problems(dataset, folder.path, options, progress))
    return report


def _load(path: Path, report: CheckReport) -> dict[str, Any] | None:
    from abyssexp.datasets.quick import load_coco_json, structure_problems

    try:
        data = load_coco_json(path)
    except DatasetError as exc:
        report.problems.append(str(exc).removeprefix(f"{path}: "))
        return None
    report.problems.extend(structure_problems(data))
    return None if report.problems else data


def _label_space(
    path: Path, data: dict[str, Any], options: CheckOptions, report: CheckReport
) -> Any:
    """The label space training would use (the training file's map, names, background)."""
    from abyssexp.datasets.category_map import check_unique_names, class_names_for
    from abyssexp.datasets.coco import make_translator
    from abyssexp.datasets.dialects import placeholder_categories, placeholder_note
    from abyssexp.datasets.factory import LabelSpace, with_background

    settings = SimpleNamespace(
        translator=options.translator,
        caption_map=options.caption_map,
        ignore_unmapped_captions=False,
        category_map=options.category_map,
        map_by=options.map_by,
        label_source=options.label_source,
        unlabelled=options.unlabelled,
        background_logit=None,
        background_name=options.background_name,
    )
    categories = list(data.get("categories", []))
    translator = make_translator(settings, categories, Path.cwd(), str(path), data=data)
    if options.translator == "category" and options.category_map is None:
        note = placeholder_note(placeholder_categories(data), str(path))
        if note:
            report.notes.append(note)
    if isinstance(translator, CategoryTranslator):
        names = class_names_for(translator.mapping, categories)
    else:
        names = list(translator.class_names or [])
    check_unique_names(names, f"the class table of {path}")
    labels = LabelSpace(translator, names, translator.num_classes or len(names))
    return with_background(labels, settings)


def _dataset(
    path: Path, labels: Any, image_dir: Path, options: CheckOptions, data: dict[str, Any]
) -> Any:
    from abyssexp.datasets.coco import ImageClassificationDataset

    return ImageClassificationDataset(
        path,
        translator=labels.translator,
        image_dir=image_dir,
        unlabelled="zeros",
        class_names=labels.class_names[: labels.translator.num_classes or None],
        num_classes=labels.translator.num_classes,
        coco_data=data,
    )


def _policy_tables(dataset: Any, labels: Any, options: CheckOptions) -> dict[str, Any]:
    """Every ``unlabelled`` policy's class table: images per class."""
    names = dataset.class_names
    mapped = {names[k]: v for k, v in dataset.class_counts.items()}
    unlabelled = len(dataset.unlabelled_ids)
    background = options.background_name if options.softmax else "(no label: all-zero target)"
    second = "background" if options.softmax else "zeros"
    return {
        "drop": dict(mapped),
        second: {**mapped, background: unlabelled},
    }


def _stats(
    data: dict[str, Any], dataset: Any, labels: Any, options: CheckOptions
) -> dict[str, Any]:
    policies = _policy_tables(dataset, labels, options)
    chosen = "drop" if options.unlabelled == "drop" else next(k for k in policies if k != "drop")
    counts = policies[chosen]
    nonzero = [c for c in counts.values() if c]
    return {
        "images": len(data["images"]),
        "annotations": len(data["annotations"]),
        "labelled": sum(1 for labels_ in dataset.labels if labels_),
        "unlabelled": len(dataset.unlabelled_ids),
        "multilabel": len(dataset.multilabel_ids),
        "unlabelled_policy": chosen,
        "classes": len(counts),
        "class_counts": counts,
        "policies": policies,
        "imbalance_ratio": (max(nonzero) / min(nonzero)) if nonzero else None,
    }


def _verdict(data: dict[str, Any], dataset: Any, labels: Any, options: CheckOptions) -> list[str]:
    """The problems that make the data unusable, one line each with what to do."""
    problems = []
    counts = dataset.class_counts
    names = dataset.class_names
    unlabelled = len(dataset.unlabelled_ids)
    if not data["images"]:
        return ["the file lists no images; nothing to train or test on"]
    if not any(counts.values()):
        return [
            f"none of its {len(data['images'])} image(s) carries a label: "
            f"{len(data['annotations'])} annotation(s), none mapped to a logit; check the category "
            "map, --label-source and --translator"
        ]
    empty = [names[k] for k, v in counts.items() if v == 0]
    if empty:
        problems.append(
            f"{len(empty)} class(es) have no labelled image: {first_ids(empty)}; label some "
            "images of each, or give a category map without them"
        )
    with_images = sum(1 for v in counts.values() if v)
    background = options.unlabelled == "background" or (
        not options.softmax and options.unlabelled == "zeros"
    )
    if with_images + (1 if background and unlabelled else 0) < 2:
        only = first_ids([names[k] for k, v in counts.items() if v])
        hint = (
            f"--unlabelled background makes its {unlabelled} unlabelled image(s) a "
            f"{options.background_name!r} class"
            if unlabelled
            else "add images without the label (they become the background class)"
        )
        problems.append(
            f"only 1 class with images ({only}): a classifier needs 2 or more; {hint}, or "
            "use a map with more classes"
        )
    if options.softmax and options.multilabel == "refuse" and dataset.multilabel_ids:
        problems.append(
            f"{len(dataset.multilabel_ids)} image(s) have several labels (ids "
            f"{first_ids(dataset.multilabel_ids)}) and --multilabel refuse; use drop or share, or "
            "--sigmoid"
        )
    return problems


def _warnings(dataset: Any, options: CheckOptions) -> list[str]:
    warnings = []
    if dataset.unlabelled_ids:
        warnings.append(
            f"{len(dataset.unlabelled_ids)} image(s) carry no mapped label (ids "
            f"{first_ids(dataset.unlabelled_ids)}); dataset.unlabelled decides "
            f"(here: {options.unlabelled}; see the policies table)"
        )
    if dataset.multilabel_ids and options.softmax:
        verb = {"drop": "are dropped", "share": "share the target", "refuse": "are refused"}
        warnings.append(
            f"{len(dataset.multilabel_ids)} image(s) have several distinct labels (ids "
            f"{first_ids(dataset.multilabel_ids)}); with softmax they "
            f"{verb[options.multilabel]} (dataset.softmax_multilabel={options.multilabel}); "
            "sigmoid keeps them all"
        )
    return warnings


def _check_val(val: Path, labels: Any, options: CheckOptions, report: CheckReport) -> None:
    """The validation file read with the training file's label space: every class needs an image."""
    val_report = CheckReport(val)
    data = _load(val, val_report)
    if data is None:
        report.problems.extend(f"{val}: {problem}" for problem in val_report.problems)
        return
    folder = find_image_dir(val, data["images"], options.val_image_dir)
    report.notes.append(f"val {folder.describe()}")
    dataset = _dataset(val, labels, folder.path, options, data)
    names = dataset.class_names
    counts = {names[k]: v for k, v in dataset.class_counts.items()}
    report.stats["val_class_counts"] = counts
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        report.problems.append(
            f"{val}: {len(empty)} class(es) have no labelled validation image: {first_ids(empty)}; "
            "move some images of each into the validation file (`abyssexp data split`)"
        )
    missing = dataset.missing_files
    if missing:
        report.problems.append(
            f"{val}: {len(missing)} image file(s) missing under {folder.path}: "
            f"{first_few([n for _, n in missing])}"
        )


def _file_problems(
    dataset: Any,
    image_dir: Path,
    options: CheckOptions,
    progress: Callable[[int, int], None] | None,
) -> list[str]:
    """Missing files (found while the dataset was read), and with decoding, undecodable ones."""
    if options.decode:
        images = [
            (image_id, str(dataset.coco.imgs[image_id]["file_name"]), path)
            for image_id, path in zip(dataset.image_ids, dataset.image_paths, strict=True)
        ]
        return _image_problems(_decode_all(images, progress, options.workers), image_dir)
    return _image_problems(_ImageFailures(missing=list(dataset.missing_files)), image_dir)

"""``abyssexp data check``: is this COCO file usable for classification, and what is in it?

Problems are grouped (one line each, with counts, the first few file names and ids); nothing raises
past ``check_coco`` for bad data, so the CLI can print every problem at once. The verdict on the
classes is ``abyssexp.datasets.class_table``'s (the one ``new`` and ``train`` use): a file is usable
when, as it trains, 2 or more classes have images (a background class counts), every class has an
image in the training file and in the validation file (when given), no two classes share a name;
and every image file exists (and decodes, unless decoding is skipped).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.datasets.dialects import detect_dialect
from abyssexp.datasets.locate import ImageFolder, find_image_dir, missing_message
from abyssexp.datasets.quick import first_ids
from abyssexp.errors import DatasetError, first_few
from abyssexp.worker_pool import map_in_processes, pool_pays, usable_cores

if TYPE_CHECKING:
    from abyssexp.datasets.class_table import ClassTable
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.split_datasets import LabelSpace
    from abyssexp.schemas.params import DatasetParams


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


#: From this many images (four times as many where workers are spawned: ``worker_pool``), one
#: process per core: decoding also runs Python code (header parsing, EXIF, mode conversion)
#: that holds the GIL. Below, threads in this process (no start-up cost; Pillow releases the
#: GIL while it decodes, which is most of a large photo).
PROCESS_POOL_FROM = 512


def _decode_one(path: str) -> tuple[str | None, str]:
    """Decode one image: (None, "") or (reason kind, message). Top level, so processes can run it.
    ``check_readable`` says what a file must pass (a JPEG is decoded in draft mode)."""
    from abyssexp.datasets.images import ImageNotFoundError, ImageTooLargeError, check_readable

    try:
        check_readable(path)
    except ImageNotFoundError:
        return "missing", ""
    except ImageTooLargeError as exc:
        return "too_large", str(exc).removeprefix(f"{path}: ")
    except DatasetError as exc:
        return "corrupt", str(exc).removeprefix(f"{path}: ")
    return None, ""


def _decode_results(
    paths: list[str], workers: int
) -> Generator[tuple[str | None, str], None, None]:
    """Each path's result, in order. One worker: a plain loop (a pool's hand-over per image
    costs as much as checking a small image). Many images: one process per core, paths sent in
    chunks as plain strings (cheap to pickle), results streamed back in order."""
    if workers < 2:
        yield from map(_decode_one, paths)
        return
    if not pool_pays(len(paths), PROCESS_POOL_FROM):
        with ThreadPoolExecutor(max_workers=workers) as threads:
            yield from threads.map(_decode_one, paths)
        return
    chunk = max(16, min(256, len(paths) // (workers * 16)))
    yield from map_in_processes(_decode_one, paths, workers, chunk)


def _decode_all(
    images: list[tuple[Any, str, Path]],
    progress: Callable[[int, int], None] | None,
    workers: int,
) -> _ImageFailures:
    """Decode every image on ``workers`` cores, reporting progress as results arrive in order."""
    failures = _ImageFailures()
    results = _decode_results([os.fspath(path) for _, _, path in images], workers)
    with contextlib.closing(results):  # an error in progress() stops the pool at once
        for done, ((image_id, file_name, _), (status, reason)) in enumerate(
            zip(images, results, strict=True), start=1
        ):
            if status is not None:
                getattr(failures, status).append((image_id, file_name))
                failures.example.setdefault(status, reason)
            if progress:
                progress(done, len(images))
    return failures


def _image_problems(
    failures: _ImageFailures, missing_line: Callable[[list[tuple[Any, str]]], str]
) -> list[str]:
    """One line per reason, naming the first few files and their image ids; missing files in
    the words every command uses (``locate.missing_message``, given as ``missing_line``)."""

    def named(pairs: list[tuple[Any, str]]) -> str:
        return (
            f"{first_few([name for _, name in pairs], width=None)} "
            f"(image ids {first_few([image_id for image_id, _ in pairs])})"
        )

    problems = []
    if failures.missing:
        problems.append(missing_line(failures.missing))
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
    #: A test file: only checked for images it shares with the other splits.
    test: Path | None = None
    test_image_dir: Path | None = None
    #: Look for near-duplicates across the splits (warnings); identical images always count.
    near_check: bool = True
    #: The scratch root whose hash cache is used (None: the configured one).
    scratch: Path | None = None
    decode: bool = True
    workers: int = field(default_factory=usable_cores)


def check_coco(
    path: Path,
    options: CheckOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> CheckReport:
    """Check a COCO file (and a validation file) for image classification.

    The verdict on the classes is ``abyssexp.datasets.class_table``'s, the one ``new`` and
    ``train`` use: it judges what trains, after the map and the policies.

    Args:
        path: the (training) COCO file.
        options: how it will be read; keyword ``settings`` build one when not given.
        progress: called with (images decoded, images in all).

    Returns:
        The report: problems (not usable), warnings, notes and statistics.
    """
    options = options or CheckOptions(**settings)
    report = CheckReport(Path(path))
    data = _load(Path(path), report)
    if data is None:
        return report
    dialect = detect_dialect(data, Path(path))
    described = dialect.describe()
    if described:
        report.notes.append(described)
    folder = find_image_dir(Path(path), data["images"], options.image_dir)
    report.notes.append(folder.describe())
    _placeholder_note(Path(path), data, options, report)
    val = _load_val(options, report)
    try:
        table = _class_table(Path(path), data, folder.path, val, options)
        dataset = _dataset(Path(path), table.labels, folder.path, data)
    except DatasetError as exc:
        report.problems.append(str(exc))
        return report
    report.stats = _stats(data, table, options)
    report.stats["image_dir"] = str(folder.path)
    report.stats["dialect"] = dialect.tool
    report.problems.extend(table.problems)
    report.warnings.extend([*_warnings(table), *table.warnings])
    report.notes.extend(table.notes)
    if "val" in table.datasets:
        missing = table.datasets["val"].missing_files
        if missing and val is not None and options.val is not None:
            report.problems.append(
                missing_message(
                    options.val,
                    val[1],
                    missing,
                    len(val[0]["images"]),
                    "--val-images",
                    val[0]["images"],
                )
            )
    missing_line = partial(
        missing_message, Path(path), folder, total=len(data["images"]), images=data["images"]
    )
    report.problems.extend(_file_problems(dataset, missing_line, options, progress))
    if val is not None or options.test is not None:
        _leak_verdict(Path(path), folder.path, val, options, report)
    return report


def _leak_verdict(
    path: Path,
    folder: Path,
    val: tuple[dict[str, Any], ImageFolder] | None,
    options: CheckOptions,
    report: CheckReport,
) -> None:
    """Images shared by the splits: identical ones are problems, near-duplicates warnings (the
    verdict ``new`` acts on: ``leaks.check_split_leaks``)."""
    from abyssexp.datasets.hash_cache import open_hash_cache
    from abyssexp.datasets.leaks import check_split_leaks

    splits = {"train": (path, folder)}
    if val is not None and options.val is not None:
        splits["val"] = (options.val, val[1].path)
    if options.test is not None:
        test_report = CheckReport(options.test)
        data = _load(options.test, test_report)
        if data is None:
            report.problems.extend(f"{options.test}: {p}" for p in test_report.problems)
            return
        test_folder = find_image_dir(options.test, data["images"], options.test_image_dir)
        report.notes.append(f"test {test_folder.describe()}")
        splits["test"] = (options.test, test_folder.path)
    if len(splits) < 2:
        return
    leaks = check_split_leaks(splits, options.near_check, open_hash_cache(options.scratch))
    report.problems.extend(leaks.problems())
    report.warnings.extend(leaks.warnings())
    report.stats["leaks"] = {
        "identical": len(leaks.identical),
        "near": None if leaks.near is None else len(leaks.near),
        "undecoded": leaks.undecoded,
    }


def _load(path: Path, report: CheckReport) -> dict[str, Any] | None:
    from abyssexp.datasets.quick import load_coco_json, structure_problems

    try:
        data = load_coco_json(path)
    except DatasetError as exc:
        report.problems.append(str(exc).removeprefix(f"{path}: "))
        return None
    report.problems.extend(structure_problems(data))
    return None if report.problems else data


def _load_val(
    options: CheckOptions, report: CheckReport
) -> tuple[dict[str, Any], ImageFolder] | None:
    """The validation file's JSON and images folder; None (its problems reported) when broken."""
    if options.val is None:
        return None
    val_report = CheckReport(options.val)
    data = _load(options.val, val_report)
    if data is None:
        report.problems.extend(f"{options.val}: {problem}" for problem in val_report.problems)
        return None
    folder = find_image_dir(options.val, data["images"], options.val_image_dir)
    report.notes.append(f"val {folder.describe()}")
    return data, folder


def dataset_params(options: CheckOptions, path: Path, val: Path | None = None) -> DatasetParams:
    """The ``DatasetParams`` that ``data check``'s options stand for (what ``new`` would write)."""
    from abyssexp.schemas.params import DatasetParams

    return DatasetParams(
        train=str(path),
        val=str(val) if val is not None else None,
        category_map=options.category_map,
        map_by=options.map_by,
        translator=options.translator,
        caption_map=options.caption_map,
        label_source=options.label_source,
        unlabelled=options.unlabelled,
        background_name=options.background_name,
        softmax_multilabel=options.multilabel,
    )


def _class_table(
    path: Path,
    data: dict[str, Any],
    image_dir: Path,
    val: tuple[dict[str, Any], ImageFolder] | None,
    options: CheckOptions,
) -> ClassTable:
    """The class table training would use, built by the function ``new`` and ``train`` use."""
    from pydantic import ValidationError

    from abyssexp.datasets.class_table import class_table

    files, coco, folders = {"train": path}, {"train": data}, {"train": str(image_dir)}
    if val is not None and options.val is not None:
        files["val"], coco["val"], folders["val"] = options.val, val[0], str(val[1].path)
    try:
        params = dataset_params(options, path, files.get("val"))
    except ValidationError as exc:
        raise DatasetError(f"the options do not make valid dataset params: {exc}") from None
    params = params.model_copy(update={"image_dir": folders})
    return class_table(params, options.softmax, Path.cwd(), files, coco, style="check")


def _placeholder_note(
    path: Path, data: dict[str, Any], options: CheckOptions, report: CheckReport
) -> None:
    from abyssexp.datasets.dialects import placeholder_categories, placeholder_note

    if options.translator == "category" and options.category_map is None:
        note = placeholder_note(placeholder_categories(data), str(path))
        if note:
            report.notes.append(note)


def _dataset(
    path: Path, labels: LabelSpace, image_dir: Path, data: dict[str, Any]
) -> ImageClassificationDataset:
    """Every image of the file (no policy drops any), for the file checks."""
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


def _policy_tables(table: ClassTable, options: CheckOptions) -> dict[str, Any]:
    """Every ``unlabelled`` policy's class table, from the file's counts: images per class."""
    train = table.splits["train"]
    mapped = dict(list(train.in_file.items())[: table.labels.translator.num_classes or None])
    background = options.background_name if options.softmax else "(no label: all-zero target)"
    second = "background" if options.softmax else "zeros"
    return {"drop": dict(mapped), second: {**mapped, background: train.unlabelled}}


def _stats(data: dict[str, Any], table: ClassTable, options: CheckOptions) -> dict[str, Any]:
    train = table.splits["train"]
    counts = train.trains_as
    # A class with no image makes the ratio infinite, not the ratio of the others: none is given.
    empty = [name for name, count in counts.items() if not count]
    stats = {
        "images": len(data["images"]),
        "annotations": len(data["annotations"]),
        "labelled": train.images - train.unlabelled,
        "unlabelled": train.unlabelled,
        "multilabel": train.multilabel,
        "unlabelled_policy": options.unlabelled,
        "multilabel_policy": options.multilabel if options.softmax else "keep",
        "classes": len(counts),
        "class_counts": counts,
        "in_file": train.in_file,
        "policies": _policy_tables(table, options),
        "imbalance_ratio": (
            max(counts.values()) / min(counts.values()) if counts and not empty else None
        ),
        "empty_classes": empty,
        "class_table": table.to_json(),
    }
    if "val" in table.splits:
        stats["val_class_counts"] = table.splits["val"].trains_as
        stats["val_in_file"] = table.splits["val"].in_file
    return stats


def _warnings(table: ClassTable) -> list[str]:
    """Unlabelled and multilabel images: what the policies do with them."""
    warnings = []
    train = table.splits["train"]
    dataset = table.datasets["train"]
    if train.unlabelled:
        warnings.append(
            f"{train.unlabelled} image(s) carry no mapped label (ids "
            f"{first_ids(dataset.unlabelled_ids)}); dataset.unlabelled decides "
            f"(here: {table.unlabelled}; see the policies table)"
        )
    if train.multilabel and table.softmax:
        verb = {"drop": "are dropped", "share": "share the target", "refuse": "are refused"}
        warnings.append(
            f"{train.multilabel} image(s) have several distinct labels (ids "
            f"{first_ids(dataset.multilabel_ids)}); with softmax they "
            f"{verb[table.multilabel]} (dataset.softmax_multilabel={table.multilabel}); "
            "sigmoid keeps them all"
        )
    return warnings


def _file_problems(
    dataset: ImageClassificationDataset,
    missing_line: Callable[[list[tuple[Any, str]]], str],
    options: CheckOptions,
    progress: Callable[[int, int], None] | None,
) -> list[str]:
    """Missing files (found while the dataset was read), and with decoding, undecodable ones."""
    if options.decode:
        images = [
            (image_id, str(dataset.coco.imgs[image_id]["file_name"]), path)
            for image_id, path in zip(dataset.image_ids, dataset.image_paths, strict=True)
        ]
        return _image_problems(_decode_all(images, progress, options.workers), missing_line)
    return _image_problems(_ImageFailures(missing=list(dataset.missing_files)), missing_line)

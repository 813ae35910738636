"""``abyssexp test``: evaluate a checkpoint on a COCO test set into ``testing/<condition>/``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abyssexp.atomic import atomic_copy, atomic_write_text
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.checkpoints import resolve_checkpoint
from abyssexp.experiment.layout import TEST_COCO, ExperimentPaths
from abyssexp.experiment.naming import validate_part
from abyssexp.experiment.record_file import record_test
from abyssexp.schemas.resolve import load_params_file, validate_params
from abyssexp.schemas.results import ConditionMetrics

if TYPE_CHECKING:
    import keras

    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.image_cache import CacheSettings
    from abyssexp.datasets.locate import ImageFolder
    from abyssexp.datasets.split_datasets import LabelSpace
    from abyssexp.schemas.params import Params


@dataclass
class TestResult:
    condition: str
    folder: Path
    checkpoint: str
    metrics: ConditionMetrics

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "folder": str(self.folder),
            "checkpoint": self.checkpoint,
            "metrics": self.metrics,
        }


def evaluate_experiment(
    paths: ExperimentPaths,
    coco_file: Path,
    condition: str,
    checkpoint: str = "best",
    threshold: float | None = None,
    batch_size: int | None = None,
    image_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    tta: str | None = None,
    near_check: bool = True,
) -> TestResult:
    """Predict ``coco_file`` with a checkpoint and write every artefact of the condition.

    Args:
        paths: the experiment.
        coco_file: the test set.
        condition: the name of ``testing/<condition>/`` (experiment-name rules apply).
        checkpoint: ``best``, ``last`` or an epoch number.
        threshold: the sigmoid decision threshold for every class; by default the per-class
            thresholds training saved for ``best`` (``models/thresholds.json``), else 0.5.
        batch_size: defaults to the experiment's ``training.batch_size``.
        image_dir: where the test images are; default: found where export tools put them.
        progress: called with (batches done, batches in all).
        tta: ``flip``: average the scores of each image and its left-right mirror.
        near_check: also count test images that are near-duplicates of training or validation
            images (a caveat; identical ones are always counted).

    Returns:
        The condition's folder, the checkpoint used and the metrics.

    Raises:
        InvalidInputError: a bad option, a missing file, or no labelled test image.
        ExperimentStateError: the checkpoint does not exist.
    """
    _check_options(condition, tta, threshold, coco_file)
    params = validate_params(load_params_file(paths.params), str(paths.params))
    checkpoint_path = resolve_checkpoint(paths, checkpoint)
    decision = _decision_threshold(checkpoint_path, threshold)
    labels, dataset, image_folder = _test_set(paths, params, coco_file, image_dir)

    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(checkpoint_path, compile=False)
    batch = batch_size or params.training.batch_size
    scores, seconds = _predict(model, dataset, batch, progress, tta, _disk_cache(paths, params))
    truth = dataset.multihot() > 0

    from abyssexp.evaluation.metrics import classification_metrics
    from abyssexp.hashing import sha256_file

    activation = params.model.output_activation
    metrics = classification_metrics(truth, scores, labels.class_names, activation, decision)
    metrics |= ConditionMetrics(
        checkpoint=checkpoint_path.name,
        condition=condition,
        dataset=str(coco_file),
        dataset_sha256=sha256_file(coco_file),
        images_per_second=len(dataset) / seconds if seconds else None,
        dropped_unlabelled=dataset.dropped_unlabelled,
        tta=tta,
        dropped_multilabel=dataset.dropped_multilabel,
        softmax_multilabel=params.dataset.softmax_multilabel if activation == "softmax" else None,
        images_found=image_folder.describe(),
    )
    trust = (scores, decision, near_check)
    hashes = _add_trust(paths, params, (coco_file, image_folder.path), dataset, trust, metrics)
    metrics["images_sha256"] = _content_fingerprint(dataset.image_ids, hashes)
    folder = paths.condition(condition)
    _write_condition(folder, coco_file, dataset, scores, truth, metrics, decision, hashes)
    from abyssexp.experiment.result_digest import summarise_test

    record_test(paths.record, condition, summarise_test(metrics))
    return TestResult(condition, folder, checkpoint_path.name, metrics)


def _check_options(
    condition: str, tta: str | None, threshold: float | None, coco_file: Path
) -> None:
    """Refuse a bad option before anything is loaded."""
    validate_part(condition, "--condition")
    if tta not in (None, "flip"):
        raise InvalidInputError(
            f"--tta: the only test-time augmentation is flip. Received: {tta!r}"
        )
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise InvalidInputError(f"--threshold must be between 0 and 1. Received: {threshold}")
    if not coco_file.is_file():
        raise InvalidInputError(f"--coco {coco_file}: file not found")


def _add_trust(
    paths: ExperimentPaths,
    params: Params,
    test_files: tuple[Path, Path],
    dataset: ImageClassificationDataset,
    predicted: tuple[np.ndarray, float | np.ndarray, bool],
    metrics: ConditionMetrics,
) -> list[str | None]:
    """What says how far to trust the metrics, added to them: a 95 % interval and n per metric,
    the overlap with the experiment's training and validation images (identical, and near
    unless skipped), and the caveats.

    Args:
        test_files: the test COCO file and its images folder.
        predicted: the scores, the decision threshold(s), and whether to look for
            near-duplicates.

    Returns:
        The SHA-256 of every test image (predictions.json keeps them, for paired comparisons).
    """
    from abyssexp.datasets.hash_cache import open_hash_cache
    from abyssexp.evaluation.intervals import image_outcomes, metric_intervals
    from abyssexp.evaluation.overlap import find_overlap
    from abyssexp.experiment.caveats import result_caveats, with_override_caveats
    from abyssexp.experiment.record_file import read_record

    scores, decision, near_check = predicted
    truth = dataset.multihot() > 0
    outcomes = image_outcomes(truth, scores, metrics["activation"], decision)
    metrics["intervals"] = metric_intervals(outcomes, metrics)
    hashes = open_hash_cache(paths.scratch)
    detail = find_overlap(
        params,
        paths.root,
        *test_files,
        near=near_check,
        hashes=hashes,
        evaluated=set(dataset.image_ids),
    )
    metrics["overlap"], metrics["overlap_detail"] = detail["images"], dict(detail)
    overrides = read_record(paths.record).data_overrides
    metrics["caveats"] = with_override_caveats(result_caveats(metrics), overrides)
    digests = hashes.digests(dataset.image_paths)  # read from the cache find_overlap filled
    hashes.save()
    return digests


def _content_fingerprint(image_ids: list[Any], hashes: list[str | None]) -> str:
    """One SHA-256 over every tested image's id and content hash: two tests of the same COCO
    file whose images changed in between get different fingerprints (``compare`` says so)."""
    import hashlib

    lines = "\n".join(
        f"{image_id}:{digest}" for image_id, digest in zip(image_ids, hashes, strict=True)
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def _decision_threshold(checkpoint: Path, threshold: float | None) -> float | np.ndarray:
    """``--threshold``, else the per-class thresholds saved for this checkpoint, else 0.5."""
    from abyssexp.evaluation.thresholds import DEFAULT_THRESHOLD, read_thresholds

    if threshold is not None:
        return threshold
    saved = read_thresholds(checkpoint)
    return np.array(saved) if saved is not None else DEFAULT_THRESHOLD


def _test_set(
    paths: ExperimentPaths, params: Params, coco_file: Path, image_dir: Path | None
) -> tuple[LabelSpace, ImageClassificationDataset, ImageFolder]:
    """The label space the model was trained with, the test set read with it, and where its
    images were found (given, or where export tools put them: an ``ImageFolder``)."""
    from abyssexp.datasets.locate import require_coco_images
    from abyssexp.datasets.split_datasets import (
        LabelSpace,
        dataset_for_split,
        label_space_from_params,
        with_background,
    )
    from abyssexp.datasets.translators import CategoryTranslator
    from abyssexp.schemas.model_files import read_category_map, read_class_names

    class_names = read_class_names(paths.class_names)
    labels = label_space_from_params(params.dataset, paths.root)
    mapping = read_category_map(paths.category_map)
    if mapping is not None:
        count = len(set(mapping.values()))
        saved = LabelSpace(
            CategoryTranslator(mapping, label_source=params.dataset.label_source),
            (class_names or labels.class_names)[:count],
            count,
        )
        labels = with_background(saved, params.dataset)
    activation = params.model.output_activation
    unlabelled = params.dataset.unlabelled
    if unlabelled == "zeros" and activation == "softmax":
        unlabelled = "drop"
    folder = require_coco_images(coco_file, image_dir)
    settings = params.dataset.model_copy(
        update={"unlabelled": unlabelled, "image_dir": {"test": str(folder.path)}}
    )
    dataset = dataset_for_split(
        settings, "test", paths.root, labels, coco_path=coco_file, softmax=activation == "softmax"
    )
    if len(dataset) == 0:
        raise InvalidInputError(f"{coco_file}: no labelled images to test with this category map")
    return labels, dataset, folder


def _disk_cache(paths: ExperimentPaths, params: Params) -> CacheSettings:
    """The shared image cache, as the experiment's ``training.cache`` asks (the test set's
    entries are shared with every other experiment tested on it)."""
    from abyssexp.datasets.image_cache import pipeline_settings

    training = params.training
    return pipeline_settings(paths.scratch, training.cache, training.cache_limit_gb)


def _predict(
    model: keras.Model,
    dataset: ImageClassificationDataset,
    batch: int,
    progress: Callable[[int, int], None] | None,
    tta: str | None = None,
    disk_cache: CacheSettings | None = None,
) -> tuple[np.ndarray, float]:
    """Scores for every image of ``dataset`` (float64) and the seconds it took; with ``tta``
    ``flip``, the mean of the image's and its mirror's scores. ``disk_cache``: the
    ``PipelineSpec`` fields of the shared image cache (the experiment's ``training.cache``)."""
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset, steps_for

    size = tuple(model.input_shape[1:3])
    spec = PipelineSpec(input_size=size, batch_size=batch, **(disk_cache or {}))
    data = make_tf_dataset(dataset, spec)
    steps = steps_for(len(dataset), batch)
    predictions = []
    started = time.monotonic()
    for step, (images, _) in enumerate(data):
        scores = np.asarray(model.predict_on_batch(images), dtype=np.float64)
        if tta == "flip":
            mirrored = np.asarray(model.predict_on_batch(images[:, :, ::-1, :]), np.float64)
            scores = (scores + mirrored) / 2.0
        predictions.append(scores)
        if progress:
            progress(step + 1, steps)
    seconds = time.monotonic() - started
    return np.concatenate(predictions)[: len(dataset)].astype(np.float64), seconds


def _write_condition(
    folder: Path,
    coco_file: Path,
    dataset: ImageClassificationDataset,
    scores: np.ndarray,
    truth: np.ndarray,
    metrics: ConditionMetrics,
    threshold: float | np.ndarray,
    hashes: list[str | None],
) -> None:
    """testing/<condition>/: the test file, predictions (with each image's SHA-256, which
    ``compare`` matches images by), metrics, report and plots."""
    from abyssexp.evaluation.metrics import predicted_labels
    from abyssexp.evaluation.plots import plot_confusion_matrix, plot_pr_curves
    from abyssexp.schemas.results import write_test_result

    names = metrics["class_names"]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_copy(coco_file, folder / TEST_COCO)
    chosen = predicted_labels(scores, metrics["activation"], threshold)
    write_test_result(
        folder,
        metrics,
        [
            {
                "image_id": int(image_id),
                "file": str(path),
                "sha256": hashes[i],
                "scores": {name: float(scores[i, c]) for c, name in enumerate(names)},
                "predicted": [names[c] for c in np.flatnonzero(chosen[i])],
                "true": [names[c] for c in np.flatnonzero(truth[i])],
            }
            for i, (image_id, path) in enumerate(
                zip(dataset.image_ids, dataset.image_paths, strict=True)
            )
        ],
    )
    atomic_write_text(folder / "report.txt", render_report(metrics))
    plot_pr_curves(truth, scores, metrics, folder / "pr_curves.png")
    plot_confusion_matrix(metrics, folder / "confusion_matrix.png")


def _threshold_text(metrics: Mapping[str, Any]) -> str:
    threshold = metrics.get("threshold")
    if threshold is None:
        return ""
    values = np.atleast_1d(np.asarray(threshold, dtype=float))
    if values.size == 1:
        return f"   threshold: {float(values[0]):g}"
    pairs = ", ".join(f"{n} {t:.3f}" for n, t in zip(metrics["class_names"], values, strict=True))
    return f"\nper-class thresholds (chosen on the validation set): {pairs}"


def render_report(metrics: Mapping[str, Any]) -> str:
    """A readable table of the metrics (report.txt)."""
    lines = [
        f"condition: {metrics['condition']}   checkpoint: {metrics['checkpoint']}",
        f"dataset: {metrics['dataset']} (sha256 {metrics['dataset_sha256'][:12]}...)",
        f"images: {metrics['images']}   activation: {metrics['activation']}"
        + _threshold_text(metrics),
        "",
        f"{'class':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'AP':>10}{'support':>10}",
    ]
    for name, row in metrics["per_class"].items():
        ap = row["average_precision"]
        lines.append(
            f"{name[:23]:<24}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
            f"{(f'{ap:.4f}' if ap is not None else '-'):>10}{row['support']:>10}"
        )
    lines.append("")
    from abyssexp.evaluation.intervals import INTERVAL_METRICS  # the report's order too

    for key in INTERVAL_METRICS:
        if metrics.get(key) is not None:
            lines.append(f"{key:<18}{_with_interval(metrics, key)}")
    if metrics.get("overlap") is not None:
        lines.append(f"{'overlap':<18}{metrics['overlap']} (test images also in training/val)")
    if metrics["activation"] == "softmax":
        names = metrics["class_names"]
        width = max(8, max(len(n) for n in names) + 1)
        lines += [
            "",
            "confusion matrix (rows: true, columns: predicted)",
            " " * width + "".join(f"{n[: width - 1]:>{width}}" for n in names),
        ]
        for name, row in zip(names, metrics["confusion_matrix"], strict=True):
            lines.append(f"{name[: width - 1]:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines + _report_notes(metrics)) + "\n"


def _report_notes(metrics: Mapping[str, Any]) -> list[str]:
    """What a reader needs to square the numbers: where the images were, images counted twice,
    and every caveat (images left out, overlap, small n, one answer for everything)."""
    notes = []
    if metrics.get("images_found"):
        notes.append(metrics["images_found"])
    if metrics.get("multilabel_images"):
        supports = sum(row["support"] for row in metrics["per_class"].values())
        notes.append(
            f"{metrics['multilabel_images']} test image(s) carry several labels "
            "(dataset.softmax_multilabel=share): supports count each label, so they sum to "
            f"{supports} for {metrics['images']} images; the confusion matrix counts such an "
            "image once per label (rows sum to the supports); accuracy counts a prediction as "
            "right when it is any of the image's labels"
        )
    caveats = metrics.get("caveats")
    if caveats is None:  # metrics made before caveats were stored
        from abyssexp.experiment.caveats import result_caveats

        caveats = result_caveats(metrics)
    notes += [f"warning ({c['code']}): {c['message']}" for c in caveats]
    from abyssexp.evaluation.intervals import INTERVAL_METRICS
    from abyssexp.experiment.result_digest import missing_intervals

    notes += missing_intervals(metrics, INTERVAL_METRICS)
    return ["", *notes] if notes else []


def _with_interval(metrics: Mapping[str, Any], key: str) -> str:
    """``0.8333  [0.7100–0.9200] 95 %  n=29``; ``0.4600  [too few to tell]  n=4`` where no
    interval method holds (the notes say why); the value alone for old metrics."""
    from abyssexp.experiment.result_digest import interval_label

    interval = (metrics.get("intervals") or {}).get(key) or {}
    text = f"{metrics[key]:.4f}"
    if interval.get("low") is not None and interval.get("high") is not None:
        text += f"  [{interval['low']:.4f}–{interval['high']:.4f}] 95 %"
    elif interval_label(interval):
        text += f"  [{interval_label(interval)}]"
    return text + (f"  n={interval['n']}" if interval.get("n") is not None else "")

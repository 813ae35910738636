"""``abyssexp test``: evaluate a checkpoint on a COCO test set into ``testing/<condition>/``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abyssexp.atomic import atomic_copy, atomic_write_json, atomic_write_text
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.checkpoints import resolve_checkpoint
from abyssexp.experiment.layout import TEST_COCO, ExperimentPaths
from abyssexp.experiment.naming import validate_part
from abyssexp.experiment.record import record_test
from abyssexp.schemas.resolve import load_params_file, validate_params


@dataclass
class TestResult:
    condition: str
    folder: Path
    checkpoint: str
    metrics: dict[str, Any]

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
    threshold: float = 0.5,
    batch_size: int | None = None,
    image_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TestResult:
    """Predict ``coco_file`` with a checkpoint and write every artefact of the condition."""
    validate_part(condition, "--condition")
    if not 0.0 < threshold < 1.0:
        raise InvalidInputError(f"--threshold must be between 0 and 1. Received: {threshold}")
    if not coco_file.is_file():
        raise InvalidInputError(f"--coco {coco_file}: file not found")
    params = validate_params(load_params_file(paths.params), str(paths.params))
    checkpoint_path = resolve_checkpoint(paths, checkpoint)

    from abyssexp.datasets.factory import LabelSpace, dataset_for_split, label_space_from_params
    from abyssexp.datasets.translators import CategoryTranslator

    class_names = json.loads(paths.class_names.read_text()) if paths.class_names.is_file() else None
    labels = label_space_from_params(params.dataset, paths.root)
    if paths.category_map.is_file():
        mapping = json.loads(paths.category_map.read_text())
        labels = LabelSpace(
            CategoryTranslator(mapping, label_source=params.dataset.label_source),
            class_names or labels.class_names,
            len(set(mapping.values())),
        )
    activation = params.model.output_activation
    settings = params.dataset.model_copy(
        update={
            "unlabelled": "drop"
            if params.dataset.unlabelled == "zeros" and activation == "softmax"
            else params.dataset.unlabelled
        }
    )
    dataset = dataset_for_split(
        settings, "test", paths.root, labels, coco_path=coco_file, softmax=activation == "softmax"
    )
    if image_dir is not None:
        dataset.image_dir = image_dir
        from abyssexp.datasets.coco import resolve_image_path

        images = {img["id"]: img for img in dataset.coco.dataset["images"]}
        dataset.image_paths = [resolve_image_path(images[i], image_dir) for i in dataset.image_ids]
    if len(dataset) == 0:
        raise InvalidInputError(f"{coco_file}: no labelled images to test with this category map")

    import tensorflow as tf  # noqa: F401 - heavy imports only past validation

    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset, steps_for
    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(checkpoint_path, compile=False)
    size = tuple(model.input_shape[1:3])
    batch = batch_size or params.training.batch_size
    data = make_tf_dataset(dataset, PipelineSpec(input_size=size, batch_size=batch))
    steps = steps_for(len(dataset), batch)
    predictions = []
    started = time.monotonic()
    for step, (images, _) in enumerate(data):
        predictions.append(np.asarray(model.predict_on_batch(images)))
        if progress:
            progress(step + 1, steps)
    seconds = time.monotonic() - started
    scores = np.concatenate(predictions)[: len(dataset)].astype(np.float64)
    truth = dataset.multihot() > 0

    from abyssexp.evaluation.metrics import classification_metrics, predicted_labels
    from abyssexp.evaluation.plots import plot_confusion_matrix, plot_pr_curves
    from abyssexp.hashing import sha256_file

    names = labels.class_names
    metrics = classification_metrics(truth, scores, names, activation, threshold)
    metrics.update(
        checkpoint=checkpoint_path.name,
        condition=condition,
        dataset=str(coco_file),
        dataset_sha256=sha256_file(coco_file),
        images_per_second=len(dataset) / seconds if seconds else None,
        dropped_unlabelled=dataset.dropped_unlabelled,
    )
    folder = paths.condition(condition)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_copy(coco_file, folder / TEST_COCO)
    chosen = predicted_labels(scores, activation, threshold)
    atomic_write_json(
        folder / "predictions.json",
        [
            {
                "image_id": int(image_id),
                "file": str(path),
                "scores": {name: float(scores[i, c]) for c, name in enumerate(names)},
                "predicted": [names[c] for c in np.flatnonzero(chosen[i])],
                "true": [names[c] for c in np.flatnonzero(truth[i])],
            }
            for i, (image_id, path) in enumerate(
                zip(dataset.image_ids, dataset.image_paths, strict=True)
            )
        ],
    )
    atomic_write_json(folder / "metrics.json", metrics)
    atomic_write_text(folder / "report.txt", render_report(metrics))
    plot_pr_curves(truth, scores, metrics, folder / "pr_curves.png")
    plot_confusion_matrix(metrics, folder / "confusion_matrix.png")
    summary = {
        key: metrics.get(key)
        for key in ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "mAP", "top_3_accuracy")
        if metrics.get(key) is not None
    }
    summary.update(checkpoint=checkpoint_path.name, images=metrics["images"])
    record_test(paths.record, condition, summary)
    return TestResult(condition, folder, checkpoint_path.name, metrics)


def render_report(metrics: dict[str, Any]) -> str:
    """A readable table of the metrics (report.txt)."""
    lines = [
        f"condition: {metrics['condition']}   checkpoint: {metrics['checkpoint']}",
        f"dataset: {metrics['dataset']} (sha256 {metrics['dataset_sha256'][:12]}...)",
        f"images: {metrics['images']}   activation: {metrics['activation']}"
        + (f"   threshold: {metrics['threshold']}" if metrics.get("threshold") is not None else ""),
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
    for key in (
        "accuracy",
        "top_3_accuracy",
        "top_5_accuracy",
        "hamming_accuracy",
        "macro_f1",
        "micro_f1",
        "weighted_f1",
        "mAP",
    ):
        if metrics.get(key) is not None:
            lines.append(f"{key:<18}{metrics[key]:.4f}")
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
    return "\n".join(lines) + "\n"

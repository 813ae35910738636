"""Softmax and images with two labels: dropped by default; with share, the metrics agree."""

from pathlib import Path

import numpy as np

from abyssexp.datasets.split_datasets import LabelSpace, dataset_for_split
from abyssexp.datasets.translators import CategoryTranslator
from abyssexp.evaluation.evaluate import render_report
from abyssexp.evaluation.metrics import classification_metrics
from abyssexp.schemas.params import DatasetParams

CATS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]


def test_softmax_drops_images_with_two_labels_by_default(tmp_path: Path, coco_factory) -> None:
    pixels = np.full((8, 8, 3), 50, np.uint8)
    images = [{"id": i, "file_name": f"{i}.jpg", "pixels": pixels} for i in (1, 2)]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1},
        {"id": 2, "image_id": 1, "category_id": 2},
        {"id": 3, "image_id": 2, "category_id": 1},
    ]
    path = coco_factory(tmp_path, images, annotations, CATS)
    labels = LabelSpace(CategoryTranslator({1: 0, 2: 1, 3: 2}), ["a", "b", "c"], 3)
    params = DatasetParams()
    assert params.softmax_multilabel == "drop"
    dataset = dataset_for_split(params, "test", tmp_path, labels, coco_path=path)
    assert dataset.labels == [[0]] and dataset.dropped_multilabel == 1


def test_shared_images_agree_in_accuracy_matrix_and_support() -> None:
    # image 0: a and b; image 1: a; image 2: c. The model always answers a.
    truth = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], bool)
    scores = np.tile([0.8, 0.15, 0.05], (3, 1))
    metrics = classification_metrics(truth, scores, ["a", "b", "c"], "softmax")
    assert metrics["accuracy"] == 2 / 3
    matrix = np.array(metrics["confusion_matrix"])
    supports = [row["support"] for row in metrics["per_class"].values()]
    assert matrix.sum(axis=1).tolist() == supports == [2, 1, 1]
    assert metrics["multilabel_images"] == 1 and metrics["predicted_classes"] == 1
    report = render_report(
        {**metrics, "condition": "c", "checkpoint": "best.keras", "dataset": "t.json"}
        | {"dataset_sha256": "0" * 64}
    )
    assert "supports count each label, so they sum to 4 for 3 images" in report
    assert "the model gave the same answer for every test image" in report


def test_single_label_metrics_are_unchanged() -> None:
    truth = np.eye(3, dtype=bool)[[0, 1, 2, 2]]
    scores = np.eye(3)[[0, 2, 2, 1]] + 0.01
    metrics = classification_metrics(truth, scores, ["a", "b", "c"], "softmax")
    assert metrics["accuracy"] == 0.5
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]

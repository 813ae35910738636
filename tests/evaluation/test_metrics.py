"""Metrics against scikit-learn, an independent reference implementation."""

import numpy as np
import pytest
from sklearn import metrics as sk

from abyssexp.evaluation.metrics import classification_metrics

NAMES = ["a", "b", "c", "d"]


@pytest.fixture
def softmax_case():
    rng = np.random.default_rng(3)
    true = rng.integers(0, 4, 200)
    logits = rng.normal(size=(200, 4)) + 2.0 * np.eye(4)[true] * rng.uniform(0, 1.5, (200, 1))
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.eye(4)[true], scores, true


def test_softmax_metrics_match_sklearn(softmax_case) -> None:
    truth, scores, true = softmax_case
    result = classification_metrics(truth, scores, NAMES, "softmax")
    predicted = scores.argmax(axis=1)
    assert result["accuracy"] == pytest.approx(sk.accuracy_score(true, predicted))
    assert result["top_3_accuracy"] == pytest.approx(sk.top_k_accuracy_score(true, scores, k=3))
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        true, predicted, labels=range(4), zero_division=0
    )
    for c, name in enumerate(NAMES):
        row = result["per_class"][name]
        assert row["precision"] == pytest.approx(precision[c])
        assert row["recall"] == pytest.approx(recall[c])
        assert row["f1"] == pytest.approx(f1[c])
        assert row["support"] == support[c]
        assert row["average_precision"] == pytest.approx(
            sk.average_precision_score(truth[:, c], scores[:, c])
        )
    assert result["macro_f1"] == pytest.approx(sk.f1_score(true, predicted, average="macro"))
    assert result["micro_f1"] == pytest.approx(sk.f1_score(true, predicted, average="micro"))
    assert result["weighted_f1"] == pytest.approx(sk.f1_score(true, predicted, average="weighted"))
    assert result["mAP"] == pytest.approx(
        sk.average_precision_score(truth, scores, average="macro")
    )
    assert (
        result["confusion_matrix"] == sk.confusion_matrix(true, predicted, labels=range(4)).tolist()
    )


def test_sigmoid_multilabel_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(5)
    truth = rng.random((150, 4)) < 0.3
    scores = np.clip(truth * 0.35 + rng.random((150, 4)) * 0.7, 0, 1)
    result = classification_metrics(truth, scores, NAMES, "sigmoid", threshold=0.5)
    predicted = scores >= 0.5
    assert result["accuracy"] == pytest.approx(
        sk.accuracy_score(truth, predicted)
    )  # exact match ratio
    assert result["hamming_accuracy"] == pytest.approx(1 - sk.hamming_loss(truth, predicted))
    f1 = sk.f1_score(truth, predicted, average=None, zero_division=0)
    for c, name in enumerate(NAMES):
        assert result["per_class"][name]["f1"] == pytest.approx(f1[c])
        assert result["per_class"][name]["average_precision"] == pytest.approx(
            sk.average_precision_score(truth[:, c], scores[:, c])
        )
    assert result["micro_f1"] == pytest.approx(sk.f1_score(truth, predicted, average="micro"))
    assert result["macro_f1"] == pytest.approx(
        sk.f1_score(truth, predicted, average="macro", zero_division=0)
    )
    matrices = sk.multilabel_confusion_matrix(truth, predicted)
    assert result["confusion_matrix"] == matrices.tolist()


def test_ties_and_missing_class() -> None:
    truth = np.array([[1, 0], [1, 0], [1, 0]])
    scores = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    result = classification_metrics(truth, scores, ["x", "y"], "softmax")
    assert result["per_class"]["y"]["average_precision"] is None  # no positives: undefined
    assert result["per_class"]["x"]["average_precision"] == pytest.approx(
        sk.average_precision_score(truth[:, 0], scores[:, 0])
    )

"""PR curves and confusion matrix as PNGs (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from abyssexp.atomic import atomic_path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(
    truth: np.ndarray, scores: np.ndarray, metrics: Mapping[str, Any], path: Path
) -> None:
    from abyssexp.evaluation.metrics import pr_curve

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.5, 5.5), dpi=110)
    for c, name in enumerate(metrics["class_names"]):
        if not truth[:, c].any():
            continue
        precision, recall = pr_curve(truth[:, c] > 0, scores[:, c])
        ap = metrics["per_class"][name]["average_precision"]
        axes.step(recall, precision, where="post", label=f"{name} (AP {ap:.3f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1.0)
    axes.set_ylim(0, 1.02)
    title = "Precision-recall per class"
    if metrics.get("mAP") is not None:
        title += f" (mAP {metrics['mAP']:.3f})"
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)


def plot_confusion_matrix(metrics: Mapping[str, Any], path: Path) -> None:
    plt = _pyplot()
    names = metrics["class_names"]
    if metrics["activation"] == "softmax":
        matrix = np.asarray(metrics["confusion_matrix"])
        title = f"Confusion matrix (accuracy {metrics['accuracy']:.3f})"
    else:  # one row per class: [TN FP; FN TP] flattened into [absent, present] × [no, yes]
        matrix = np.asarray([[c[1][1], c[1][0], c[0][1]] for c in metrics["confusion_matrix"]])
        title = "Per-class counts (sigmoid): TP, FN, FP"
    size = max(4.5, 0.6 * len(names) + 2.5)
    figure, axes = plt.subplots(figsize=(size, size * 0.9), dpi=110)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    if metrics["activation"] == "softmax":
        axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
        axes.set_yticks(range(len(names)), names)
        axes.set_xlabel("predicted")
        axes.set_ylabel("true")
    else:
        axes.set_xticks(range(3), ["TP", "FN", "FP"])
        axes.set_yticks(range(len(names)), names)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), value in np.ndenumerate(matrix):
        axes.text(
            column,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > threshold else "black",
        )
    axes.set_title(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)

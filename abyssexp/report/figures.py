"""The report's figures: matplotlib SVG (text kept as text, so small) as ``data:`` URIs."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: One colour per experiment, the same in every figure of a report.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _figure(width: float = 5.0, height: float = 3.2) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96)


def svg_data_uri(figure: Figure) -> str:
    """The figure as ``data:image/svg+xml;base64,...``."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "abyssexp"}):
        figure.tight_layout()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _finite(values: Sequence[float]) -> bool:
    return any(not math.isnan(v) for v in values)


def _line_style_legend(axes: Axes, labels: Sequence[str], has_validation: bool) -> None:
    """One legend: the experiments as colours, then what solid and dashed mean."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=COLOURS[i % len(COLOURS)], linewidth=2, label=label)
        for i, label in enumerate(labels)
    ]
    if has_validation:  # a panel with no validation line needs no key to the line styles
        handles.append(Line2D([], [], color="#444", linestyle="-", label="training"))
        handles.append(Line2D([], [], color="#444", linestyle="--", label="validation"))
    axes.legend(handles=handles, fontsize=7, frameon=False)


def curve_figure(
    title: str,
    series: Sequence[tuple[str, dict[str, list[float]]]],
    keys: Sequence[str],
    log_scale: bool = False,
) -> str | None:
    """One small panel: ``keys`` (one metric: ``loss`` and ``val_loss``) of every experiment;
    the experiments as colours, solid for training and dashed for ``val_*``, with a legend
    saying so. None when no experiment has any of them."""
    figure = _figure(3.6, 2.5)
    axes = figure.add_subplot()
    drawn, validation = False, False
    for index, (_label, history) in enumerate(series):
        epochs = history.get("epoch") or []
        for key in keys:
            values = history.get(key)
            if not values or not _finite(values):
                continue
            x = epochs if len(epochs) == len(values) else list(range(1, len(values) + 1))
            dashed = key.startswith("val_")
            validation |= dashed
            axes.plot(
                x,
                values,
                color=COLOURS[index % len(COLOURS)],
                linestyle="--" if dashed else "-",
                marker="o",
                markersize=3,
            )
            drawn = True
    if not drawn:
        return None
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_scale:
        axes.set_yscale("log")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("epoch", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    _line_style_legend(axes, [label for label, _ in series], validation)
    return svg_data_uri(figure)


def per_class_figure(
    title: str, names: Sequence[str], precision: Sequence[float], recall: Sequence[float]
) -> str:
    """Per-class precision and recall side by side (a sigmoid model, at its thresholds)."""
    figure = _figure(max(3.6, 1.2 + 0.6 * len(names)), 2.8)
    axes = figure.add_subplot()
    x = np.arange(len(names))
    axes.bar(x - 0.2, precision, width=0.4, color=COLOURS[0], label="precision")
    axes.bar(x + 0.2, recall, width=0.4, color=COLOURS[2], label="recall")
    axes.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.tick_params(labelsize=7)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3, axis="y")
    axes.legend(fontsize=7, frameon=False)
    return svg_data_uri(figure)


def pr_figure(title: str, curves: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> str | None:
    """Precision-recall steps, one line per (label, truth, scores)."""
    from abyssexp.evaluation.metrics import pr_curve

    figure = _figure(4.6, 3.6)
    axes = figure.add_subplot()
    drawn = False
    for index, (label, truth, scores) in enumerate(curves):
        if not truth.any():
            continue
        precision, recall = pr_curve(truth, scores)
        axes.step(
            recall,
            precision,
            where="post",
            label=label,
            color=COLOURS[index % len(COLOURS)],
        )
        drawn = True
    if not drawn:
        return None
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower left")
    return svg_data_uri(figure)


def confusion_figure(matrix: list[list[int]], names: list[str]) -> str:
    """Counts, rows true and columns predicted, shaded by the share of each true class."""
    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.55 * len(names)
    figure = _figure(size + 1.0, size)
    axes = figure.add_subplot()
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (row, column), value in np.ndenumerate(counts):
        colour = "white" if shares[row, column] > 0.6 else "black"
        axes.text(column, row, f"{int(value)}", ha="center", va="center", color=colour, fontsize=8)
    axes.set_title("confusion matrix")
    return svg_data_uri(figure)

"""A test result in a few fields, and how a number is written with its n and interval.

The record's ``tests.<condition>`` summary (what ``list``, ``compare``, ``promote`` and the store
read) is made here from ``metrics.json``; ``format_metric`` writes ``0.83 [0.71–0.92] n=29``
everywhere a metric is shown, or ``0.46 [too few to tell] n=4`` where no interval method holds
(``evaluation.intervals`` leaves ``low``/``high`` null and gives a ``reason``). No NumPy: the
listing commands import this module.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any, Literal, cast

from abyssexp.schemas.results import ConditionSummary, MetricInterval

SummaryMetric = Literal["accuracy", "macro_f1", "micro_f1", "weighted_f1", "mAP", "top_3_accuracy"]
#: The metrics a record's summary keeps (compare and promote read them without metrics.json).
SUMMARY_METRICS: tuple[SummaryMetric, ...] = (
    "accuracy",
    "macro_f1",
    "micro_f1",
    "weighted_f1",
    "mAP",
    "top_3_accuracy",
)
#: The interval fields a record's summary keeps (``method``/``reason``: absent in old results,
#: whose intervals were all percentile bootstraps).
SUMMARY_INTERVAL_FIELDS: tuple[Literal["low", "high", "n", "method", "reason"], ...] = (
    "low",
    "high",
    "n",
    "method",
    "reason",
)
#: What stands in a cell for the bounds when no interval method holds.
TOO_FEW_TO_TELL = "too few to tell"
#: The one reason shown as itself: "too few" would send the reader to collect more images.
CONSTANT_PREDICTIONS = "constant predictions"


def summarise_test(metrics: Mapping[str, Any]) -> ConditionSummary:
    """The record's summary of one test: point values (numbers, as before), their intervals and
    n, overlap, caveats, and what identifies the test set (to tell comparable results apart)."""
    summary: ConditionSummary = {}
    for key in SUMMARY_METRICS:
        if (value := metrics.get(key)) is not None:
            summary[key] = value
    intervals = metrics.get("intervals") or {}
    summary |= ConditionSummary(
        checkpoint=metrics.get("checkpoint"),
        images=metrics.get("images"),
        intervals={
            key: _summary_interval(intervals[key])
            for key in SUMMARY_METRICS
            if isinstance(intervals.get(key), dict)
        },
        overlap=metrics.get("overlap"),
        caveats=list(metrics.get("caveats") or []),
        dataset_sha256=metrics.get("dataset_sha256"),
        images_sha256=metrics.get("images_sha256"),
        activation=metrics.get("activation"),
    )
    return summary


def _summary_interval(interval: Mapping[str, Any]) -> MetricInterval:
    """The fields of an interval that a record's summary keeps."""
    kept: MetricInterval = {}
    for field in SUMMARY_INTERVAL_FIELDS:
        if field in interval:
            kept[field] = interval[field]
    return kept


def interval_of(result: Mapping[str, Any] | None, metric: str) -> MetricInterval | None:
    """``{low, high, n, method?, reason?}`` of ``metric`` in a summary or a metrics.json (None:
    an old result). Each was read through its schema (``ConditionSummary``,
    ``ConditionMetrics``), which typed the intervals."""
    found = ((result or {}).get("intervals") or {}).get(metric)
    return cast(MetricInterval, found) if isinstance(found, dict) else None


def interval_label(interval: Mapping[str, Any] | None) -> str | None:
    """What replaces the bounds when the interval has none and says why (``reason``):
    ``constant predictions``, else ``too few to tell``; None when it has bounds, or is an old
    result without a reason."""
    interval = interval or {}
    if interval.get("low") is not None and interval.get("high") is not None:
        return None
    reason = interval.get("reason")
    if not reason:
        return None
    return CONSTANT_PREDICTIONS if reason == CONSTANT_PREDICTIONS else TOO_FEW_TO_TELL


def format_metric(value: Any, interval: Mapping[str, Any] | None = None, digits: int = 2) -> str:
    """``0.83 [0.71–0.92] n=29``; ``0.46 [too few to tell] n=4`` where no interval method holds;
    a result without an interval (tested before intervals existed) is the value alone. Three
    digits when the interval is narrower than 0.02."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    low = (interval or {}).get("low")
    high = (interval or {}).get("high")
    n = (interval or {}).get("n")
    label = interval_label(interval)
    if isinstance(low, int | float) and isinstance(high, int | float):
        places = digits if high - low >= 0.02 else digits + 1
        text = f"{value:.{places}f} [{low:.{places}f}–{high:.{places}f}]"
    elif label:
        text = f"{value:.{digits}f} [{label}]"
    else:
        text = f"{value:.{digits + 1}f}"
    return f"{text} n={n}" if isinstance(n, int) else text


def missing_intervals(result: Mapping[str, Any] | None, metrics: tuple[str, ...]) -> list[str]:
    """``no interval for macro_f1, mAP: fewer than 5 test images in a class`` per reason among
    ``metrics`` of a test summary or metrics.json, wrapped to 80 columns (``[]``: every one has
    bounds, or the result is old)."""
    by_reason: dict[str, list[str]] = {}
    for metric in metrics:
        interval = interval_of(result, metric)
        if (
            interval is not None
            and interval_label(interval)
            and isinstance((result or {}).get(metric), int | float)
        ):
            by_reason.setdefault(str(interval["reason"]), []).append(metric)
    lines = []
    for why, names in by_reason.items():
        text = f"no interval for {', '.join(names)}: {why}"
        lines += textwrap.wrap(text, width=80, subsequent_indent="  ", break_on_hyphens=False)
    return lines


def summary_metric(result: Mapping[str, Any] | None, metric: str = "accuracy") -> str:
    """One metric of a test summary (or metrics.json), with its interval and n."""
    result = result or {}
    return format_metric(result.get(metric), interval_of(result, metric))


def caveat_codes(result: Mapping[str, Any] | None) -> list[str]:
    """The caveat codes of a test summary or metrics.json (``[]`` for old results)."""
    return [
        str(c.get("code"))
        for c in (result or {}).get("caveats") or []
        if isinstance(c, dict) and c.get("code")
    ]


def caveat_messages(tests: dict[str, Any]) -> list[str]:
    """``condition: message`` for every caveat of every test of an experiment."""
    lines = []
    for condition, result in sorted((tests or {}).items()):
        for item in (result or {}).get("caveats") or []:
            if isinstance(item, dict):
                lines.append(f"{condition}: {item.get('message') or item.get('code')}")
    return lines

"""A test result in a few fields, and how a number is written with its n and interval.

The record's ``tests.<condition>`` summary (what ``list``, ``compare``, ``promote`` and the store
read) is made here from ``metrics.json``; ``format_metric`` writes ``0.83 [0.71–0.92] n=29``
everywhere a metric is shown. No NumPy: the listing commands import this module.
"""

from __future__ import annotations

from typing import Any

#: The metrics a record's summary keeps (compare and promote read them without metrics.json).
SUMMARY_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "mAP", "top_3_accuracy")


def summarise_test(metrics: dict[str, Any]) -> dict[str, Any]:
    """The record's summary of one test: point values (numbers, as before), their intervals and
    n, overlap, caveats, and what identifies the test set (to tell comparable results apart)."""
    summary: dict[str, Any] = {
        key: metrics.get(key) for key in SUMMARY_METRICS if metrics.get(key) is not None
    }
    intervals = metrics.get("intervals") or {}
    summary.update(
        checkpoint=metrics.get("checkpoint"),
        images=metrics.get("images"),
        intervals={
            key: {field: intervals[key].get(field) for field in ("low", "high", "n")}
            for key in SUMMARY_METRICS
            if isinstance(intervals.get(key), dict)
        },
        overlap=metrics.get("overlap"),
        caveats=list(metrics.get("caveats") or []),
        dataset_sha256=metrics.get("dataset_sha256"),
        activation=metrics.get("activation"),
    )
    return summary


def interval_of(result: dict[str, Any] | None, metric: str) -> dict[str, Any] | None:
    """``{low, high, n}`` of ``metric`` in a summary or a metrics.json (None: an old result)."""
    found = ((result or {}).get("intervals") or {}).get(metric)
    return found if isinstance(found, dict) else None


def format_metric(value: Any, interval: dict[str, Any] | None = None, digits: int = 2) -> str:
    """``0.83 [0.71–0.92] n=29``; a result without an interval (tested before intervals
    existed) is the value alone. Three digits when the interval is narrower than 0.02."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    low = (interval or {}).get("low")
    high = (interval or {}).get("high")
    n = (interval or {}).get("n")
    if isinstance(low, int | float) and isinstance(high, int | float):
        places = digits if high - low >= 0.02 else digits + 1
        text = f"{value:.{places}f} [{low:.{places}f}–{high:.{places}f}]"
    else:
        text = f"{value:.{digits + 1}f}"
    return f"{text} n={n}" if isinstance(n, int) else text


def summary_metric(result: dict[str, Any] | None, metric: str = "accuracy") -> str:
    """One metric of a test summary (or metrics.json), with its interval and n."""
    result = result or {}
    return format_metric(result.get(metric), interval_of(result, metric))


def caveat_codes(result: dict[str, Any] | None) -> list[str]:
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

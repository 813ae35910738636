"""What a reader must know before trusting a test result, as structured caveats.

A caveat is ``{"code": ..., "message": ..., **details}``; ``metrics.json`` holds the list, the
record's test summary and the store entry carry it, and every place that shows the number shows
it (``show``, ``compare``, ``promoted``, the HTML report, ``promote``). No NumPy here: the
listing commands import this module (the thresholds are read when a result is made).
"""

from __future__ import annotations

from typing import Any

#: Every caveat code, with what it means (docs/reading-the-numbers.md lists them).
CAVEAT_CODES = {
    "constant_predictions": "the model gave the same answer for every test image",
    "unlabelled_left_out": "test images without a label were left out",
    "multilabel_dropped": "test images with several labels were left out (softmax, drop)",
    "overlap": "test images are also training or validation images",
    "small_test_set": "fewer test images in all than datasets.small_data.MIN_TEST_IMAGES",
    "small_class": "a class with fewer test images than datasets.small_data.MIN_EVAL_PER_CLASS",
}


def caveat(code: str, message: str, **details: Any) -> dict[str, Any]:
    """One caveat; ``code`` is one of ``CAVEAT_CODES``."""
    return {"code": code, "message": message, **details}


def _left_out(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    if metrics.get("dropped_unlabelled"):
        count = metrics["dropped_unlabelled"]
        found.append(
            caveat(
                "unlabelled_left_out",
                f"{count} test image(s) without a label were left out (dataset.unlabelled=drop)",
                count=count,
            )
        )
    if metrics.get("dropped_multilabel"):
        count = metrics["dropped_multilabel"]
        found.append(
            caveat(
                "multilabel_dropped",
                f"{count} test image(s) with several labels were left out "
                "(dataset.softmax_multilabel=drop)",
                count=count,
            )
        )
    return found


def _overlap(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    count = metrics.get("overlap")
    if not count:
        return []
    detail = metrics.get("overlap_detail") or {}
    splits = ", ".join(f"{n} in {split}" for split, n in (detail.get("with") or {}).items() if n)
    return [
        caveat(
            "overlap",
            f"{count} of {metrics.get('images')} test image(s) are also training or validation "
            f"images ({splits or 'same file or content'}): the metrics overstate the model; "
            "`abyssexp data leaks` lists them",
            count=count,
        )
    ]


def _small(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    from abyssexp.datasets.small_data import MIN_EVAL_PER_CLASS, MIN_TEST_IMAGES

    found = []
    images = metrics.get("images")
    if isinstance(images, int) and images < MIN_TEST_IMAGES:
        found.append(
            caveat(
                "small_test_set",
                f"only {images} test image(s) (fewer than {MIN_TEST_IMAGES}): the intervals "
                "are wide; one image moves accuracy by "
                f"{1 / max(images, 1):.2f}",
                images=images,
                threshold=MIN_TEST_IMAGES,
            )
        )
    small = {
        name: int(row.get("support", 0))
        for name, row in (metrics.get("per_class") or {}).items()
        if int(row.get("support", 0)) < MIN_EVAL_PER_CLASS
    }
    if small:
        listed = ", ".join(f"{name} {count}" for name, count in small.items())
        found.append(
            caveat(
                "small_class",
                f"class(es) with fewer than {MIN_EVAL_PER_CLASS} test images ({listed}): their "
                "precision, recall and F1 say little",
                classes=small,
                threshold=MIN_EVAL_PER_CLASS,
            )
        )
    return found


def result_caveats(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Every caveat of one test result (``metrics.json``'s content)."""
    found = []
    if metrics.get("predicted_classes") == 1 and (metrics.get("images") or 0) > 1:
        found.append(
            caveat(
                "constant_predictions",
                "the model gave the same answer for every test image; its accuracy is the "
                "share of the most common class, not skill",
            )
        )
    return found + _left_out(metrics) + _overlap(metrics) + _small(metrics)

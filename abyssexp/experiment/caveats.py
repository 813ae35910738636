"""What a reader must know before trusting a test result, as structured caveats.

A caveat is ``{"code": ..., "message": ..., **details}``; ``metrics.json`` holds the list, the
record's test summary and the store entry carry it, and every place that shows the number shows
it (``show``, ``compare``, ``promoted``, the HTML report, ``promote``). No NumPy here: the
listing commands import this module (the thresholds are read when a result is made).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Unpack

from abyssexp.schemas.results import Caveat, CaveatDetails

#: Every caveat code, with what it means (docs/reading-the-numbers.md lists them).
CAVEAT_CODES = {
    "constant_predictions": "the model gave the same answer for every test image",
    "unlabelled_left_out": "test images without a label were left out",
    "multilabel_dropped": "test images with several labels were left out (softmax, drop)",
    "overlap": "test images are also training or validation images",
    "near_duplicates": "test images are near-duplicates of training or validation images",
    "small_test_set": "fewer test images in all than datasets.small_data.MIN_TEST_IMAGES",
    "small_class": "a class with fewer test images than datasets.small_data.MIN_EVAL_PER_CLASS",
    "data_override": "the experiment was made with `new --force-data` or `--allow-leaks`",
}

#: The caveats that stop ``promote`` and ``alias set`` until accepted by name (``--accept``):
#: each one means the number does not say what a gate on it assumes. The others are shown and
#: travel with the model, but do not block.
BLOCKING_CAVEATS = ("constant_predictions", "small_test_set", "overlap", "data_override")

#: What to try when a model gives one answer for every image, most frequent fix first on small
#: real data (docs/reading-the-numbers.md: three of five real exports trained from scratch were
#: fixed by the BatchNorm statistics; val macro-F1 0.37 -> 0.67).
CONSTANT_MODEL_ADVICE = (
    "likely causes, most frequent first: BatchNorm statistics on a small dataset (retrain with "
    "--set training.bn_recompute_batches=20), a learning rate too high (--set training.lr=...), "
    "class imbalance (abyssexp data check), too few epochs"
)


def constant_model_warning(images: str) -> str:
    """What to say when a model gave one answer for every ``images`` (validation in training,
    test in ``test``): it is not skill, and what usually fixes it, in that order."""
    return (
        f"the model gave the same answer for every {images}: its accuracy is the share of the "
        f"most common class, not skill; {CONSTANT_MODEL_ADVICE}"
    )


def caveat(code: str, message: str, **details: Unpack[CaveatDetails]) -> Caveat:
    """One caveat; ``code`` is one of ``CAVEAT_CODES``."""
    return {"code": code, "message": message, **details}


def _left_out(metrics: Mapping[str, Any]) -> list[Caveat]:
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


def _overlap(metrics: Mapping[str, Any]) -> list[Caveat]:
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
            "`abyssexp data leaks` lists them"
            + (
                f" (and {apart} left out of the metrics)"
                if (apart := detail.get("not_evaluated"))
                else ""
            ),
            count=count,
        )
    ]


def _near(metrics: Mapping[str, Any]) -> list[Caveat]:
    detail = metrics.get("overlap_detail") or {}
    count = detail.get("near")
    if not count or not isinstance(count, int):
        return []
    examples = "; ".join(str(e) for e in (detail.get("near_examples") or [])[:2])
    return [
        caveat(
            "near_duplicates",
            f"{count} of {metrics.get('images')} test image(s) are near-duplicates of training "
            f"or validation images (e.g. {examples or '?'}): the metrics may overstate the "
            "model; `abyssexp data split --group-by near` keeps them in one split, `abyssexp "
            "data leaks TRAIN VAL TEST --near` lists them",
            count=count,
        )
    ]


def _small(metrics: Mapping[str, Any]) -> list[Caveat]:
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


def result_caveats(metrics: Mapping[str, Any]) -> list[Caveat]:
    """Every caveat of one test result (``metrics.json``'s content)."""
    found = []
    if metrics.get("predicted_classes") == 1 and (metrics.get("images") or 0) > 1:
        found.append(caveat("constant_predictions", constant_model_warning("test image")))
    return found + _left_out(metrics) + _overlap(metrics) + _near(metrics) + _small(metrics)


def override_caveats(overrides: list[Any]) -> list[Caveat]:
    """A ``data_override`` caveat per data problem ``new`` was told to accept (the record's
    ``data_overrides``: models or plain dicts with ``flag`` and ``problems``)."""
    found = []
    for override in overrides:
        row = override if isinstance(override, dict) else override.model_dump()
        flag, problems = str(row.get("flag") or "?"), [str(p) for p in row.get("problems") or []]
        shown = "; ".join(problems[:2]) + (f" (+{len(problems) - 2} more)" if problems[2:] else "")
        found.append(
            caveat(
                "data_override",
                f"made with `new {flag}` despite: {shown or 'data problems'}",
                flag=flag,
                problems=problems,
            )
        )
    return found


def with_override_caveats(caveats: list[Caveat], overrides: list[Any]) -> list[Caveat]:
    """``caveats`` plus the record's override caveats they do not already hold."""
    if any(isinstance(c, dict) and c.get("code") == "data_override" for c in caveats):
        return list(caveats)
    return list(caveats) + override_caveats(overrides)


def parse_accepted(text: str | None) -> frozenset[str]:
    """``--accept constant_predictions,small_test_set``: blocking caveat codes, checked.

    Raises:
        InvalidInputError: a code that is not a blocking caveat (the valid ones listed).
    """
    from abyssexp.errors import InvalidInputError

    codes = frozenset(part.strip() for part in (text or "").split(",") if part.strip())
    unknown = sorted(codes - set(BLOCKING_CAVEATS))
    if unknown:
        raise InvalidInputError(
            f"--accept {text!r}: {', '.join(unknown)} is not a blocking caveat "
            f"(valid: {', '.join(BLOCKING_CAVEATS)})"
        )
    return codes


def blocking_caveats(
    caveats: Mapping[str, Sequence[Mapping[str, Any]]], accepted: frozenset[str] = frozenset()
) -> list[tuple[str, Mapping[str, Any]]]:
    """``(condition, caveat)`` for every blocking caveat of ``caveats`` (``{condition: [...]}``)
    that ``accepted`` does not name, in condition order."""
    return [
        (condition, item)
        for condition, items in sorted(caveats.items())
        for item in items or []
        if isinstance(item, dict)
        and item.get("code") in BLOCKING_CAVEATS
        and item.get("code") not in accepted
    ]


def refusal_lines(
    subject: str, blocked: list[tuple[str, Mapping[str, Any]]], command: str
) -> list[str]:
    """What ``promote``/``alias set`` print when blocking caveats stop them: one line per caveat,
    then the flag that accepts them all."""
    codes = ",".join(sorted({str(item.get("code")) for _, item in blocked}))
    lines = [
        f"{condition}: {item.get('code')}: {item.get('message') or CAVEAT_CODES.get(str(item.get('code')), '')}"
        for condition, item in blocked
    ]
    return [
        f"{subject}: {command} refused: {len(blocked)} blocking caveat(s)",
        *lines,
        f"(rerun with --accept {codes} to {command} anyway; the acceptance is recorded)",
    ]


def check_accepted(
    subject: str,
    caveats: Mapping[str, Sequence[Mapping[str, Any]]],
    accepted: frozenset[str],
    command: str,
) -> list[str]:
    """The blocking caveat codes of ``caveats`` that ``accepted`` lets through (sorted: what the
    store entry or the alias history records).

    Raises:
        BlockingCaveatsError: a blocking caveat that ``accepted`` does not name.
    """
    from abyssexp.errors import BlockingCaveatsError

    blocked = blocking_caveats(caveats, accepted)
    if blocked:
        raise BlockingCaveatsError(refusal_lines(subject, blocked, command))
    present = {str(c.get("code")) for items in caveats.values() for c in items or []}
    return sorted(accepted & present)

"""The schemas of a test result, ``testing/<condition>/metrics.json`` and ``predictions.json``,
and their one reader and writer (``evaluation/evaluate.py`` makes them).

Typed dicts, not models: ``compare``, the report and the MLflow mirror use a result as the dict
it always was, and a condition's predictions hold one row per test image. Every field is
optional and unknown keys are kept: a result tested by any earlier abyssexp (before intervals,
caveats, image hashes or per-class counts were written) still reads, while a field that is
present has its type (a hand edit that puts text where a number belongs is refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from abyssexp.atomic import atomic_write_json
from abyssexp.errors import AbyssExpError
from abyssexp.jsonio import MAX_INPUT_BYTES
from abyssexp.schemas.files import FileUnreadableError, load_file, read_file

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.json"
#: A softmax confusion matrix of 5,000 classes is 25 M numbers: the largest metrics.json.
MAX_METRICS_BYTES = 1 << 28
#: predictions.json holds a score per class per image: as large as a test set's COCO file.
MAX_PREDICTIONS_BYTES = MAX_INPUT_BYTES

_KEEP = ConfigDict(extra="allow")


class CaveatDetails(TypedDict, total=False):
    """What a caveat's code carries beside its message."""

    count: Annotated[int, Field(description="Images concerned.")]
    images: Annotated[int, Field(description="Test images in all.")]
    threshold: Annotated[int, Field(description="The bound not reached.")]
    classes: Annotated[dict[str, int], Field(description="Test images of each small class.")]
    flag: Annotated[str, Field(description="The `new` flag that overrode a data problem.")]
    problems: Annotated[list[str], Field(description="The data problems it overrode.")]


@with_config(_KEEP)
class Caveat(CaveatDetails):
    """What a reader must know before trusting a result (``experiment.caveats`` makes them):
    a code from ``CAVEAT_CODES``, a message, and the details its code carries."""

    code: str
    message: str


@with_config(_KEEP)
class MetricInterval(TypedDict, total=False):
    """A metric's 95 % interval (``evaluation.intervals``): bounds and n, or no bounds and the
    reason no method holds; a record's summary keeps ``low``, ``high``, ``n``, ``method`` and
    ``reason`` (results tested before ``method``/``reason`` existed have bounds alone)."""

    value: float
    low: float | None
    high: float | None
    n: int | None
    level: float
    method: Annotated[str, Field(description="clopper-pearson or bayesian-bootstrap.")]
    reason: Annotated[str | None, Field(description="Why there are no bounds.")]
    resamples: int
    seed: int
    draw_level: float
    prior_images: float


@with_config(_KEEP)
class ClassMetrics(TypedDict):
    precision: NotRequired[float]
    recall: NotRequired[float]
    f1: NotRequired[float]
    support: NotRequired[int]
    average_precision: NotRequired[float | None]
    tp: NotRequired[int]
    fp: NotRequired[int]
    tn: NotRequired[int]
    fn: NotRequired[int]


@with_config(_KEEP)
class ConditionMetrics(TypedDict):
    """``metrics.json``: what ``evaluation.metrics`` measured and what says how far to trust it."""

    activation: NotRequired[Annotated[str, Field(description="softmax or sigmoid.")]]
    images: NotRequired[Annotated[int, Field(description="Images counted.")]]
    class_names: NotRequired[list[str]]
    threshold: NotRequired[float | list[float] | None]
    per_class: NotRequired[dict[str, ClassMetrics]]
    accuracy: NotRequired[float]
    macro_f1: NotRequired[float]
    micro_f1: NotRequired[float]
    weighted_f1: NotRequired[float]
    mAP: NotRequired[float | None]
    top_1_accuracy: NotRequired[float]
    top_3_accuracy: NotRequired[float]
    top_5_accuracy: NotRequired[float]
    hamming_accuracy: NotRequired[Annotated[float, Field(description="Sigmoid: labels right.")]]
    multilabel_images: NotRequired[
        Annotated[int, Field(description="Softmax: images with several labels.")]
    ]
    predicted_classes: NotRequired[
        Annotated[int, Field(description="Distinct answers given (1: a constant model).")]
    ]
    confusion_matrix: NotRequired[list[Any]]
    checkpoint: NotRequired[str]
    condition: NotRequired[str]
    dataset: NotRequired[str]
    dataset_sha256: NotRequired[
        Annotated[str | None, Field(description="sha256 of the test COCO file.")]
    ]
    images_sha256: NotRequired[
        Annotated[str, Field(description="sha256 over every tested image's id and content.")]
    ]
    images_per_second: NotRequired[float | None]
    tta: NotRequired[Annotated[str | None, Field(description="Test-time augmentation.")]]
    dropped_unlabelled: NotRequired[int]
    dropped_multilabel: NotRequired[int]
    softmax_multilabel: NotRequired[str | None]
    images_found: NotRequired[
        Annotated[str | None, Field(description="Where the images were found.")]
    ]
    overlap: NotRequired[
        Annotated[int, Field(description="Test images also training or validation images.")]
    ]
    overlap_detail: NotRequired[dict[str, Any]]
    intervals: NotRequired[
        Annotated[dict[str, MetricInterval], Field(description="95 % interval and n per metric.")]
    ]
    caveats: NotRequired[list[Caveat]]


@with_config(_KEEP)
class ConditionSummary(TypedDict):
    """A record's ``tests.<condition>``: the few fields of a result that ``list``, ``compare``,
    ``promote`` and the store read without opening ``metrics.json``."""

    accuracy: NotRequired[float | None]
    macro_f1: NotRequired[float | None]
    micro_f1: NotRequired[float | None]
    weighted_f1: NotRequired[float | None]
    mAP: NotRequired[float | None]
    top_3_accuracy: NotRequired[float | None]
    checkpoint: NotRequired[str | None]
    images: NotRequired[int | None]
    intervals: NotRequired[
        Annotated[dict[str, MetricInterval], Field(description="low, high, n, method, reason.")]
    ]
    overlap: NotRequired[int | None]
    caveats: NotRequired[list[Caveat]]
    dataset_sha256: NotRequired[str | None]
    images_sha256: NotRequired[str | None]
    activation: NotRequired[str | None]


@with_config(_KEEP)
class Prediction(TypedDict):
    """One row of ``predictions.json``: one test image."""

    image_id: NotRequired[int]
    file: NotRequired[str]
    sha256: NotRequired[
        Annotated[str | None, Field(description="The image's content hash (paired compare).")]
    ]
    scores: NotRequired[dict[str, float]]
    predicted: NotRequired[list[str]]
    true: NotRequired[list[str]]


METRICS_ADAPTER: TypeAdapter[ConditionMetrics] = TypeAdapter(ConditionMetrics)
PREDICTIONS_ADAPTER: TypeAdapter[list[Prediction]] = TypeAdapter(list[Prediction])
_FIX = "test the experiment again (`abyssexp test`) to rewrite it"


def read_test_metrics(
    path: Path, error: type[AbyssExpError] = FileUnreadableError
) -> ConditionMetrics:
    """A condition's ``metrics.json``.

    Raises:
        error: missing, too big, not JSON or not a metrics object (one line).
    """
    return read_file(path, METRICS_ADAPTER, MAX_METRICS_BYTES, error, fix=_FIX)


def load_test_metrics(path: Path) -> ConditionMetrics | None:
    """``read_test_metrics``, or None (a listing shows such a result as untested)."""
    return load_file(path, METRICS_ADAPTER, MAX_METRICS_BYTES)


def load_predictions(path: Path) -> list[Prediction] | None:
    """A condition's ``predictions.json``, or None when missing or not its shape."""
    return load_file(path, PREDICTIONS_ADAPTER, MAX_PREDICTIONS_BYTES)


def write_test_result(folder: Path, metrics: ConditionMetrics, predictions: list[Any]) -> None:
    """Write a condition's ``predictions.json`` and ``metrics.json`` (metrics last: a folder
    with a metrics.json holds a whole result)."""
    atomic_write_json(folder / PREDICTIONS_FILE, predictions)
    atomic_write_json(folder / METRICS_FILE, metrics)

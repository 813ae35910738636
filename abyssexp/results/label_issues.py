"""Likely label errors of a fold sweep, from its out-of-fold predictions (confident learning).

A ``sweep new --folds K`` sweep trains K models; each predicts the fold it never trained on and
saves those probabilities in ``testing/heldout/`` (``heldout.py``). Together they give every
image one out-of-fold prediction: where a model that never saw the image disagrees confidently
with its label, the label is suspect. The ranking is cleanlab's (confident learning, Northcutt
et al. 2021), a maintained implementation rather than a hand-written one: ``find_label_issues``
for softmax models, ``cleanlab.multilabel_classification`` for sigmoid ones.

cleanlab is an optional extra (``require_cleanlab`` says how to install it) and loads only when
the ranking runs; this module reads files only, never TensorFlow. It never prints: the command
renders a ``LabelIssues``, and ``report/label_issues_page.py`` writes the review files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abyssexp.atomic import atomic_write_json
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.layout import VAL_COCO, ExperimentPaths
from abyssexp.jsonio import read_json
from abyssexp.sweeps.heldout import HELDOUT_CONDITION, heldout_inputs
from abyssexp.sweeps.trials import SweepLocation, resolve_sweep

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'abyssexp[labels]' (or pip install cleanlab)"
#: How cleanlab orders the suspects (and scores every image): the label's own probability, or
#: its margin over the likeliest other class (cleanlab's recommended default for ranking).
RANKINGS = ("self_confidence", "normalized_margin")
#: The field each suspect image carries in the suspects COCO file (the tool keeps unknown keys).
ISSUE_FIELD = "abyssexp_label_issue"
#: The review files' default folder, ``.sweeps/<id>.label-issues/`` (never ``s*.json``).
REVIEW_SUFFIX = ".label-issues"
#: How far above the most-common-label rate the models' agreement must be to count as skill.
SKILL_MARGIN = 0.05


def require_cleanlab() -> None:
    """Stop with the install line when cleanlab cannot be imported.

    Imported rather than looked up, so ``sys.modules["cleanlab"] = None`` (the standard way to
    make an import fail) shows the message, as tests do.

    Raises:
        InvalidInputError: cleanlab is missing.
    """
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            f"data label-issues needs cleanlab, an optional extra: {INSTALL_HINT}"
        ) from None


@dataclass
class OutOfFold:
    """Every image's out-of-fold probabilities, gathered from the trials of a fold sweep."""

    class_names: list[str]
    activation: str
    image_ids: list[int]
    files: list[str]
    given: list[list[int]]
    predicted: list[list[str]]
    probs: np.ndarray
    #: The held-out folds' COCO data, merged (images, annotations, categories as the source).
    coco: dict[str, Any]
    trials: list[str]
    #: Softmax images that do not carry exactly one label (not ranked).
    skipped: int = 0


@dataclass(frozen=True)
class LabelIssue:
    """One image whose given label is likely wrong."""

    rank: int
    image_id: int
    file: str
    given: list[str]
    suggested: list[str]
    #: cleanlab's label quality in [0, 1]: lower means the label is more likely wrong.
    score: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LabelIssues:
    """The suspects of a sweep, best first, and what they were ranked among."""

    sweep: str
    activation: str
    ranked_by: str
    images: int
    class_names: list[str]
    trials: list[str]
    issues: list[LabelIssue]
    skipped: int = 0
    #: Share of ranked images whose out-of-fold suggestion is their given label, and the share a
    #: model answering the most common label everywhere would reach: the models' skill.
    agreement: float | None = None
    majority: float | None = None
    coco: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Where the review files go by default: ``.sweeps/<id>.label-issues/`` beside the sweep.
    review_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep,
            "activation": self.activation,
            "ranked_by": self.ranked_by,
            "images": self.images,
            "flagged": len(self.issues),
            "skipped": self.skipped,
            "agreement": self.agreement,
            "majority": self.majority,
            "warning": self.warning(),
            "class_names": self.class_names,
            "trials": self.trials,
            "issues": [issue.to_json() for issue in self.issues],
        }

    def warning(self) -> str | None:
        """A warning when the out-of-fold models did no better than always answering the most
        common label: their disagreement then says nothing about the labels."""
        if self.agreement is None or self.majority is None:
            return None
        if self.agreement > self.majority + SKILL_MARGIN:
            return None
        return (
            f"the out-of-fold models agree with {self.agreement:.0%} of the given labels, no "
            f"better than always answering the most common one ({self.majority:.0%}): they "
            "learned too little for their disagreement to point at wrong labels; train the fold "
            "sweep longer or on more images (or from pretrained weights) and rank again"
        )


def find_sweep_label_issues(
    sweep_ref: str, scratch: Path, ranked_by: str = "self_confidence"
) -> LabelIssues:
    """The likely label errors of a fold sweep, ranked (what ``data label-issues`` shows).

    Args:
        sweep_ref: ``PROJECT/TYPE/sNNN``, ``sNNN`` or the sweep file.
        scratch: the scratch root.
        ranked_by: one of ``RANKINGS``.

    Raises:
        InvalidInputError: cleanlab is missing, a bad ``ranked_by``, a sweep without folds, a
            trial without its out-of-fold predictions (the message gives the command that makes
            them), or predictions that do not fit together.
        ExperimentNotFoundError: no such sweep.
    """
    if ranked_by not in RANKINGS:
        raise InvalidInputError(
            f"--ranked-by: one of {', '.join(RANKINGS)}. Received: {ranked_by!r}"
        )
    require_cleanlab()
    location = resolve_sweep(sweep_ref, scratch)
    oof = gather_out_of_fold(location)
    result = rank_label_issues(oof, ranked_by, location.ref)
    result.review_dir = location.path.parent / f"{location.sweep.id}{REVIEW_SUFFIX}"
    return result


def gather_out_of_fold(location: SweepLocation) -> OutOfFold:
    """Read each trial's ``testing/heldout/predictions.json`` and join them, one row per image.

    Raises:
        InvalidInputError: see ``find_sweep_label_issues``.
    """
    sweep = location.sweep
    if not sweep.folds:
        raise InvalidInputError(
            f"sweep {location.ref} has no folds: label issues need out-of-fold predictions; "
            "make a fold sweep with `abyssexp sweep new ... --folds 5` and run it"
        )
    rows: list[dict[str, Any]] = []
    coco: dict[str, Any] = {}
    names: list[str] = []
    for trial in sweep.trials:
        paths = ExperimentPaths(location.type_dir / trial.name)
        found = _heldout_rows(paths)
        names = names or list(found[0]["scores"])
        rows += [_checked_row(row, names, paths) for row in found]
        _merge_coco(coco, paths)
    ids = [row["image_id"] for row in rows]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise InvalidInputError(
            f"sweep {location.ref}: image id(s) {twice} are predicted by two trials; the "
            "trials' held-out folds overlap (edited datasets?): make the fold sweep again"
        )
    return _out_of_fold(rows, names, coco, location)


def _heldout_rows(paths: ExperimentPaths) -> list[dict[str, Any]]:
    """A trial's out-of-fold prediction rows; an error gives the command that makes them."""
    path = paths.condition(HELDOUT_CONDITION) / "predictions.json"
    if not path.is_file():
        raise InvalidInputError(
            f"{paths.root.name}: no out-of-fold predictions ({path} is missing); train the "
            f"trial (`abyssexp sweep run`), or for a trial trained before they were saved: "
            f"abyssexp test {paths.root} --coco {paths.datasets / VAL_COCO} "
            f"--condition {HELDOUT_CONDITION}"
        )
    data = read_json(path, str(path), InvalidInputError, max_depth=None)
    if not isinstance(data, list) or not data:
        raise InvalidInputError(f"{path}: expected a non-empty list of predictions")
    if not isinstance(data[0], dict) or not isinstance(data[0].get("scores"), dict):
        raise InvalidInputError(f"{path}: row 0 has no 'scores' object; test the trial again")
    return data


def _checked_row(row: Any, names: list[str], paths: ExperimentPaths) -> dict[str, Any]:
    """One prediction row, checked: an int image id, a score in [0, 1] for each class the other
    trials have (the same classes, in the same order), known labels."""
    where = f"{paths.condition(HELDOUT_CONDITION) / 'predictions.json'}"
    if not isinstance(row, dict) or not isinstance(row.get("image_id"), int):
        raise InvalidInputError(f"{where}: a row without an integer image_id; test it again")
    scores = row.get("scores")
    if not isinstance(scores, dict) or list(scores) != names:
        raise InvalidInputError(
            f"{where}: image {row['image_id']} is scored for {list(scores or {})} where the "
            f"other trials have {names}; every trial of the sweep must share one label space"
        )
    values = [scores[n] for n in names]
    if not all(isinstance(v, int | float) and 0.0 <= v <= 1.0 for v in values):
        raise InvalidInputError(f"{where}: image {row['image_id']}: a score outside [0, 1]")
    for key in ("true", "predicted"):
        labels = row.get(key)
        if not isinstance(labels, list) or not set(labels) <= set(names):
            raise InvalidInputError(
                f"{where}: image {row['image_id']}: '{key}' names a class not in {names}"
            )
    return {**row, "values": values}


def _merge_coco(coco: dict[str, Any], paths: ExperimentPaths) -> None:
    """Add a trial's held-out COCO file (its images with an absolute ``path``) to ``coco``."""
    from abyssexp.datasets.locate import resolve_image_path

    source, image_dir = heldout_inputs(paths)
    data = read_json(source, str(source), InvalidInputError, max_depth=None)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InvalidInputError(f"{source}: not a COCO file (no 'images' list)")
    folder = image_dir or source.parent
    if not coco:
        coco.update({k: v for k, v in data.items() if k not in ("images", "annotations")})
        coco.update(images=[], annotations=[])
    for image in data["images"]:
        if isinstance(image, dict):
            coco["images"].append({**image, "path": str(resolve_image_path(image, folder))})
    coco["annotations"] += [a for a in data.get("annotations") or [] if isinstance(a, dict)]


def _out_of_fold(
    rows: list[dict[str, Any]], names: list[str], coco: dict[str, Any], location: SweepLocation
) -> OutOfFold:
    from abyssexp.schemas.resolve import load_params_file, validate_params

    first = ExperimentPaths(location.type_dir / location.sweep.trials[0].name)
    params = validate_params(load_params_file(first.params), str(first.params))
    index = {name: i for i, name in enumerate(names)}
    paths = {image.get("id"): image.get("path") for image in coco["images"]}
    return OutOfFold(
        class_names=names,
        activation=params.model.output_activation,
        image_ids=[row["image_id"] for row in rows],
        files=[str(paths.get(row["image_id"]) or row.get("file") or "") for row in rows],
        given=[[index[n] for n in row["true"]] for row in rows],
        predicted=[list(row["predicted"]) for row in rows],
        probs=np.asarray([row["values"] for row in rows], dtype=np.float64),
        coco=coco,
        trials=[trial.name for trial in location.sweep.trials],
    )


def rank_label_issues(oof: OutOfFold, ranked_by: str, sweep: str = "") -> LabelIssues:
    """cleanlab's suspects among the out-of-fold predictions, most likely wrong first.

    Softmax: images with exactly one label are ranked (``cleanlab.filter.find_label_issues``);
    the suggestion is the out-of-fold top class. Sigmoid: every image, with its set of labels
    (``cleanlab.multilabel_classification``); the suggestion is the classes the trial's model
    predicted (its thresholds).

    Raises:
        InvalidInputError: cleanlab refuses the data (e.g. one class only).
    """
    require_cleanlab()
    multilabel = oof.activation == "sigmoid"
    keep = [i for i, g in enumerate(oof.given) if multilabel or len(g) == 1]
    probs = oof.probs[keep]
    if multilabel:
        found, scores = _multilabel_issues([oof.given[i] for i in keep], probs, ranked_by)
    else:
        labels = np.asarray([oof.given[i][0] for i in keep], dtype=np.int64)
        found, scores = _softmax_issues(labels, probs, ranked_by)
    issues = []
    for rank, position in enumerate(found, start=1):
        i = keep[int(position)]
        issues.append(
            LabelIssue(
                rank=rank,
                image_id=oof.image_ids[i],
                file=oof.files[i],
                given=[oof.class_names[c] for c in oof.given[i]],
                suggested=_suggested(oof, i, multilabel),
                score=round(float(scores[int(position)]), 6),
            )
        )
    agreement, majority = _skill(oof, keep, multilabel)
    return LabelIssues(
        sweep=sweep,
        agreement=agreement,
        majority=majority,
        activation=oof.activation,
        ranked_by=ranked_by,
        images=len(keep),
        class_names=oof.class_names,
        trials=oof.trials,
        issues=issues,
        skipped=len(oof.given) - len(keep),
        coco=oof.coco,
    )


def _skill(oof: OutOfFold, keep: list[int], multilabel: bool) -> tuple[float, float]:
    """(share of images whose suggestion equals the given label(s), share of the commonest
    given label (set)): what the models know beyond the class frequencies."""
    from collections import Counter

    if not keep:
        return 0.0, 0.0
    given = [tuple(sorted(oof.class_names[c] for c in oof.given[i])) for i in keep]
    agree = sum(
        tuple(sorted(_suggested(oof, i, multilabel))) == g for i, g in zip(keep, given, strict=True)
    )
    return agree / len(keep), Counter(given).most_common(1)[0][1] / len(keep)


def _suggested(oof: OutOfFold, i: int, multilabel: bool) -> list[str]:
    if multilabel:
        return oof.predicted[i]
    return [oof.class_names[int(np.argmax(oof.probs[i]))]]


def _softmax_issues(
    labels: np.ndarray, probs: np.ndarray, ranked_by: str
) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the suspects, best first; every image's label quality score)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    # Softmax outputs in float32 sum to 1 only to ~1e-7; cleanlab checks rows sum to 1.
    probs = probs / probs.sum(axis=1, keepdims=True)
    with _cleanlab_errors():
        found = find_label_issues(labels, probs, return_indices_ranked_by=ranked_by)
        scores = get_label_quality_scores(labels, probs, method=ranked_by)
    return np.asarray(found, dtype=np.int64), np.asarray(scores)


def _multilabel_issues(
    labels: list[list[int]], probs: np.ndarray, ranked_by: str
) -> tuple[np.ndarray, np.ndarray]:
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    with _cleanlab_errors():
        found = find_label_issues(labels, probs, return_indices_ranked_by=ranked_by)
        scores = get_label_quality_scores(labels, probs, method=ranked_by)
    return np.asarray(found, dtype=np.int64), np.asarray(scores)


@contextmanager
def _cleanlab_errors() -> Iterator[None]:
    """cleanlab's refusals (``ValueError``, ``AssertionError``) as one line, its warnings
    logged (the core never prints; the command shows a count)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (ValueError, AssertionError, TypeError) as exc:
            raise InvalidInputError(
                f"cleanlab cannot rank these predictions ({type(exc).__name__}: "
                f"{str(exc)[:160]}); a fold sweep with at least two classes and more images "
                "per class helps"
            ) from None
    for warning in caught:
        logger.warning("cleanlab: %s", warning.message)


def suspects_coco(issues: LabelIssues) -> dict[str, Any]:
    """The suspects as a COCO file for review in an annotation tool: their images (with an
    absolute ``path`` and the ``abyssexp_label_issue`` finding), their annotations as given,
    and every category of the source, in rank order."""
    by_id = {image.get("id"): image for image in issues.coco.get("images", [])}
    images = []
    for issue in issues.issues:
        image = dict(by_id.get(issue.image_id) or {"id": issue.image_id, "file_name": issue.file})
        image[ISSUE_FIELD] = {k: v for k, v in issue.to_json().items() if k != "file"}
        images.append(image)
    wanted = {issue.image_id for issue in issues.issues}
    rest = {k: v for k, v in issues.coco.items() if k not in ("images", "annotations")}
    annotations = [a for a in issues.coco.get("annotations", []) if a.get("image_id") in wanted]
    return {**rest, "images": images, "annotations": annotations}


def write_suspects_coco(issues: LabelIssues, path: Path) -> Path:
    """Write ``suspects_coco`` atomically; returns ``path``."""
    atomic_write_json(path, suspects_coco(issues))
    return path

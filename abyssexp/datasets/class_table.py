"""What trains: the class table after the category map, the unlabelled and the multilabel policy.

``class_table`` is the one place the class table is built: ``data check`` (from its options),
``new`` (from the files it is about to copy) and ``train`` (in its plan) all call it with a real
``DatasetParams``, so the three can never disagree. The table counts images per class twice: "in
the file" (every image carrying the class once the category map is applied) and "trains as"
(after ``dataset.unlabelled`` and, with softmax, ``dataset.softmax_multilabel``), per split. The
verdict is on what trains, so an export where every image of a class also carries another class
is refused with softmax and the default ``drop`` (that class trains with 0 images) instead of
training a model that answers one class for everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from abyssexp.datasets.small_data import MIN_EVAL_PER_CLASS, MIN_TRAIN_PER_CLASS
from abyssexp.datasets.translators import is_zero_area
from abyssexp.errors import first_few

if TYPE_CHECKING:
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.split_datasets import LabelSpace
    from abyssexp.datasets.translators import AnnotationTranslator
    from abyssexp.schemas.params import DatasetParams

#: How a fix is spelled: ``data check``'s own options, or ``--set`` for ``new`` and ``train``.
FixStyle = Literal["check", "params"]
FIXES: dict[str, dict[str, str]] = {
    "check": {
        "sigmoid": "--sigmoid",
        "share": "--multilabel share",
        "background": "--unlabelled background",
        "drop": "--unlabelled drop",
        "zeros": "--unlabelled zeros",
    },
    "params": {
        "sigmoid": "--set model.output_activation=sigmoid",
        "share": "--set dataset.softmax_multilabel=share",
        "background": "--set dataset.unlabelled=background",
        "drop": "--set dataset.unlabelled=drop",
        "zeros": "--set dataset.unlabelled=zeros",
    },
}
#: At most this many per-class lines of one kind; the rest are counted in one more line.
MAX_CLASS_LINES = 8
DETECTION_NOTE = (
    "annotations are detection boxes: image-level labels are derived from them (an image is "
    "labelled with every class that has a box in it)"
)


@dataclass(frozen=True)
class SplitCounts:
    """One split's class table: images per class in the file and as they train."""

    split: str
    path: Path
    images: int
    annotations: int
    #: Images carrying each class once the map is applied (background: the unlabelled images).
    in_file: dict[str, int]
    #: Images per class after the unlabelled and multilabel policies.
    trains_as: dict[str, int]
    unlabelled: int
    multilabel: int
    kept: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "images": self.images,
            "annotations": self.annotations,
            "in_file": self.in_file,
            "trains_as": self.trains_as,
            "unlabelled": self.unlabelled,
            "multilabel": self.multilabel,
            "kept": self.kept,
        }


@dataclass(frozen=True)
class ClassTable:
    """The class table of every split, and the verdict on it.

    ``problems`` make the data not usable (one line each: the class, the counts, the fix);
    ``warnings`` (small data) and ``notes`` (how labels were derived) do not.
    """

    labels: LabelSpace
    softmax: bool
    unlabelled: str
    multilabel: str
    splits: dict[str, SplitCounts]
    datasets: dict[str, ImageClassificationDataset]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems

    @property
    def differs(self) -> bool:
        """Whether what trains differs from what the files hold (a policy dropped something)."""
        return any(s.in_file != s.trains_as for s in self.splits.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "usable": self.usable,
            "softmax": self.softmax,
            "unlabelled": self.unlabelled,
            "softmax_multilabel": self.multilabel,
            "classes": list(self.labels.class_names),
            "splits": {name: split.to_json() for name, split in self.splits.items()},
            "problems": self.problems,
            "warnings": self.warnings,
            "notes": self.notes,
        }


def class_table(
    params: DatasetParams,
    softmax: bool,
    root: Path,
    files: Mapping[str, Path] | None = None,
    data: Mapping[str, dict[str, Any]] | None = None,
    style: FixStyle = "params",
) -> ClassTable:
    """The class table training would use, per split (``train``, and ``val`` when set), and the
    verdict on it.

    Args:
        params: the dataset params in force (the category map, the policies, images folders).
        softmax: whether the model is softmax (the multilabel policy applies) or sigmoid.
        root: what relative paths in ``params`` are relative to (the experiment folder).
        files: a split's file when it is not (yet) where params say (``new``, ``data check``).
        data: a split's JSON when the caller has already read and checked it.
        style: how fixes are spelled: ``data check`` options or ``--set`` params.

    Returns:
        The table; its ``datasets`` are the ones training reads.

    Raises:
        DatasetError: the map does not fit the training file, or two classes share a name.
    """
    from abyssexp.datasets.split_datasets import dataset_for_split, label_space_from_params

    files, data = dict(files or {}), dict(data or {})
    splits = [s for s in ("train", "val") if s in files or getattr(params, s)]
    labels = label_space_from_params(params, root, files.get("train"), data.get("train"))
    table_params = params
    if softmax and params.softmax_multilabel == "refuse":
        # Counted as shared so the table is complete; the verdict refuses the images.
        table_params = params.model_copy(update={"softmax_multilabel": "share"})
    datasets = {
        split: dataset_for_split(
            table_params, split, root, labels, files.get(split), softmax, data.get(split)
        )
        for split in splits
    }
    counts = {split: _counts(split, datasets[split], labels) for split in splits}
    table = ClassTable(
        labels, softmax, params.unlabelled, params.softmax_multilabel, counts, datasets
    )
    table.problems.extend(_verdict(table, FIXES[style]))
    table.warnings.extend(small_data_warnings(table))
    table.notes.extend(_detection_notes(table))
    return table


def _counts(split: str, dataset: ImageClassificationDataset, labels: LabelSpace) -> SplitCounts:
    names = labels.class_names
    trains_as = {names[k]: v for k, v in dataset.class_counts.items()}
    in_file = {names[k]: dataset.file_class_counts.get(k, 0) for k in range(len(names))}
    logit = labels.background_logit
    if logit is not None and _added_background(labels):
        in_file[names[logit]] = len(dataset.unlabelled_ids)
    return SplitCounts(
        split=split,
        path=dataset.coco_path,
        images=len(dataset.coco.dataset["images"]),
        annotations=len(dataset.coco.dataset["annotations"]),
        in_file=in_file,
        trains_as=trains_as,
        unlabelled=len(dataset.unlabelled_ids),
        multilabel=len(dataset.multilabel_ids),
        kept=len(dataset),
    )


def _added_background(labels: LabelSpace) -> bool:
    """Whether the last class is the one ``unlabelled: background`` added (not a mapped logit)."""
    mapped = labels.translator.num_classes or labels.num_classes
    return labels.background_logit is not None and labels.background_logit >= mapped


def _background_name(table: ClassTable) -> str | None:
    labels = table.labels
    logit = labels.background_logit
    return labels.class_names[logit] if logit is not None and _added_background(labels) else None


def _verdict(table: ClassTable, fix: dict[str, str]) -> list[str]:
    """The problems that make the data unusable, one line each with the counts and the fix."""
    train = table.splits["train"]
    if train.images == 0:
        return [f"{train.path}: the file lists no images; nothing to train on"]
    if not any(n for name, n in train.in_file.items() if name != _background_name(table)):
        return [
            f"{train.path}: none of its {train.images} image(s) carries a label: "
            f"{train.annotations} annotation(s), none mapped to a logit; check the category "
            "map, the label source and the translator"
        ]
    problems = _refused_multilabel(table, fix)
    for split in table.splits.values():
        problems += _capped([_empty_class(table, split, name, fix) for name in _empty(split)])
    problems += _single_class(table, fix)
    return problems


def _empty(split: SplitCounts) -> list[str]:
    return [name for name, count in split.trains_as.items() if count == 0]


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_CLASS_LINES:
        return lines
    return [*lines[:MAX_CLASS_LINES], f"... and {len(lines) - MAX_CLASS_LINES} more such classes"]


def _empty_class(table: ClassTable, split: SplitCounts, name: str, fix: dict[str, str]) -> str:
    """One line: a class with no image in a split as it trains, and why, and what to do."""
    what = "training" if split.split == "train" else "validation"
    in_file = split.in_file.get(name, 0)
    head = f"{split.path}: class {name!r}: 0 {what} images"
    if name == _background_name(table):
        return (
            f"{head}: no image there is without a label, and unlabelled images are the "
            f"background class; add some, or {fix['drop']}"
        )
    if in_file and table.softmax and table.multilabel == "drop":
        return (
            f"{head} ({in_file} in the file, each also carrying another class, and softmax "
            f"drops images with several labels); {fix['share']} or {fix['sigmoid']} keeps them"
        )
    if split.split == "train":
        return f"{head}; label some images of it, or give a category map without it"
    return f"{head}; move some images of it into the validation file (`abyssexp data split`)"


def _single_class(table: ClassTable, fix: dict[str, str]) -> list[str]:
    """A model over one trainable class answers that class for everything."""
    train = table.splits["train"]
    trainable = [name for name, count in train.trains_as.items() if count]
    negatives = not table.softmax and table.unlabelled == "zeros" and train.unlabelled > 0
    if len(trainable) != 1 or negatives:
        return []
    only = trainable[0]
    if not table.softmax and train.unlabelled:
        hint = f"{fix['zeros']} keeps its {train.unlabelled} unlabelled image(s) as negatives"
    elif train.unlabelled and _background_name(table) is None:
        hint = (
            f"{fix['background']} makes its {train.unlabelled} unlabelled image(s) a "
            f"'background' class ({only!r} vs 'background')"
        )
    else:
        hint = f"add images without the label (they become 'background' with {fix['background']})"
    return [
        f"{train.path}: only 1 class with images ({only}), {train.trains_as[only]} training "
        f"image(s): a classifier needs 2 or more, or it answers {only!r} for everything; "
        f"{hint}, or use a map with more classes"
    ]


def _refused_multilabel(table: ClassTable, fix: dict[str, str]) -> list[str]:
    if not (table.softmax and table.multilabel == "refuse"):
        return []
    problems = []
    for split in table.splits.values():
        ids = table.datasets[split.split].multilabel_ids
        if ids:
            problems.append(
                f"{split.path}: {len(ids)} image(s) have several labels (ids {first_few(ids)}) "
                f"and softmax_multilabel is refuse; {fix['share']}, or {fix['sigmoid']}"
            )
    return problems


def small_data_warnings(table: ClassTable) -> list[str]:
    """One line per split whose classes have fewer images than the documented thresholds
    (``abyssexp.datasets.small_data``); a class with none is a problem, not a warning."""
    warnings = []
    for split in table.splits.values():
        minimum = MIN_TRAIN_PER_CLASS if split.split == "train" else MIN_EVAL_PER_CLASS
        what = "training" if split.split == "train" else "validation"
        few = [(name, n) for name, n in split.trains_as.items() if 0 < n < minimum]
        if few:
            listed = first_few([f"{name!r} {n}" for name, n in few], shown=6)
            warnings.append(
                f"small data: {len(few)} class(es) have fewer than {minimum} {what} images in "
                f"{split.path}: {listed}; metrics on so few images move a lot with one image"
            )
    return warnings


def _detection_notes(table: ClassTable) -> list[str]:
    """Say once when image labels come from detection boxes, and how many images that makes
    multilabel (with softmax those are dropped or shared by the multilabel policy)."""
    counts = []
    for split in table.splits.values():
        dataset = table.datasets[split.split]
        if _has_boxes(dataset.coco.dataset["annotations"], dataset.translator):
            counts.append(f"{split.multilabel} of {split.images} {split.split} image(s)")
    if not counts:
        return []
    return [f"{DETECTION_NOTE}; {', '.join(counts)} become multilabel"]


def _has_boxes(annotations: list[dict[str, Any]], translator: AnnotationTranslator) -> bool:
    """Whether the labels come from detection boxes: some image has two or more counted
    annotations with a non-zero area."""
    boxes: dict[Any, int] = {}
    for annotation in annotations:
        if translator.filter(annotation) and not is_zero_area(annotation):
            image_id = annotation["image_id"]
            boxes[image_id] = boxes.get(image_id, 0) + 1
            if boxes[image_id] >= 2:
                return True
    return False

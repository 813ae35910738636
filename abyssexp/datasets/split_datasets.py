"""Datasets for an experiment's splits, built from ``params.dataset``.

The category map comes from the training file (or params), and the validation and test splits
reuse it, so every split agrees on logits and class names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.datasets.coco import ImageClassificationDataset, load_coco, make_translator
from abyssexp.datasets.translators import AnnotationTranslator, CategoryTranslator
from abyssexp.errors import DatasetError

if TYPE_CHECKING:
    from abyssexp.schemas.params import DatasetParams

#: ``dataset.softmax_multilabel`` → the dataset's ``multilabel`` rule.
MULTILABEL_RULE = {"share": "keep", "drop": "drop", "refuse": "refuse"}


@dataclass(frozen=True)
class LabelSpace:
    """What the model's outputs mean: the translator, class names and count.

    ``background_logit`` is the logit unlabelled images get with ``unlabelled: background``: the
    params' ``background_logit``, or the extra last class (``background_name``) when none is set.
    """

    translator: AnnotationTranslator
    class_names: list[str]
    num_classes: int
    background_logit: int | None = None

    def category_map(self) -> dict[str, int] | None:
        if isinstance(self.translator, CategoryTranslator):
            return {str(k): v for k, v in sorted(self.translator.mapping.items())}
        return None


def split_image_dir(dataset_params: DatasetParams, split: str, root: Path) -> Path | None:
    value = dataset_params.image_dir
    if isinstance(value, dict):
        value = value.get(split)
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else root / path


def resolve_split_path(dataset_params: DatasetParams, split: str, root: Path) -> Path:
    value = getattr(dataset_params, split)
    if value is None:
        raise DatasetError(
            f"params dataset.{split} is not set; create the experiment with --{split} FILE or "
            f"--set dataset.{split}=PATH"
        )
    path = Path(value)
    return path if path.is_absolute() else root / path


def label_space_from_params(
    dataset_params: DatasetParams,
    root: Path,
    train_path: Path | None = None,
    data: dict[str, Any] | None = None,
) -> LabelSpace:
    """Build the translator from the training file's categories and params.

    Args:
        dataset_params: the params in force.
        root: what relative paths in them are relative to (the experiment folder).
        train_path: the training file, when it is not yet where params say (``new``).
        data: the training file's JSON, when the caller has already read and checked it.
    """
    from abyssexp.datasets.category_map import check_unique_names, class_names_for

    train_path = train_path or resolve_split_path(dataset_params, "train", root)
    coco = load_coco(train_path, data)
    translator = make_translator(
        dataset_params,
        list(coco.dataset.get("categories", [])),
        root,
        str(train_path),
        data=coco.dataset,
    )
    if isinstance(translator, CategoryTranslator):
        names = class_names_for(translator.mapping, coco.dataset.get("categories", []))
    else:
        names = list(translator.class_names or [])
    check_unique_names(names, f"the class table of {train_path}")
    return with_background(
        LabelSpace(translator, names, translator.num_classes or len(names)), dataset_params
    )


def with_background(labels: LabelSpace, dataset_params: DatasetParams) -> LabelSpace:
    """Add the background class ``unlabelled: background`` asks for (without a
    ``background_logit``, the unlabelled images become an extra last class)."""
    if dataset_params.unlabelled != "background":
        return labels
    if dataset_params.background_logit is not None:
        return replace(labels, background_logit=dataset_params.background_logit)
    name = dataset_params.background_name
    if name in labels.class_names[: labels.num_classes]:
        raise DatasetError(
            f"dataset.background_name {name!r} is already a class of the map; set "
            "dataset.background_name to another name"
        )
    names = [*labels.class_names[: labels.num_classes], name]
    return LabelSpace(labels.translator, names, labels.num_classes + 1, labels.num_classes)


def dataset_for_split(
    dataset_params: DatasetParams,
    split: str,
    root: Path,
    labels: LabelSpace,
    coco_path: Path | None = None,
    softmax: bool = True,
    coco_data: dict[str, Any] | None = None,
) -> ImageClassificationDataset:
    """The ``ImageClassificationDataset`` of one split (``train``, ``val``; ``test`` with a path).

    ``coco_data`` is the file's JSON when the caller has already read and checked it.
    """
    path = coco_path or resolve_split_path(dataset_params, split, root)
    return ImageClassificationDataset(
        path,
        translator=labels.translator,
        image_dir=split_image_dir(dataset_params, split, root),
        unlabelled=dataset_params.unlabelled,
        background_logit=labels.background_logit,
        multilabel=MULTILABEL_RULE[dataset_params.softmax_multilabel] if softmax else "keep",
        class_names=labels.class_names,
        num_classes=labels.num_classes,
        coco_data=coco_data,
    )

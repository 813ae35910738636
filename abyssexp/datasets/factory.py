"""Datasets for an experiment's splits, built from ``params.dataset``.

The category map comes from the training file (or params), and the validation and test splits
reuse it, so every split agrees on logits and class names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abyssexp.datasets.coco import ImageClassificationDataset, load_coco, make_translator
from abyssexp.datasets.translators import CategoryTranslator
from abyssexp.errors import DatasetError


@dataclass(frozen=True)
class LabelSpace:
    """What the model's outputs mean: the translator, class names and count."""

    translator: Any
    class_names: list[str]
    num_classes: int

    def category_map(self) -> dict[str, int] | None:
        if isinstance(self.translator, CategoryTranslator):
            return {str(k): v for k, v in sorted(self.translator.mapping.items())}
        return None


def split_image_dir(dataset_params: Any, split: str, root: Path) -> Path | None:
    value = dataset_params.image_dir
    if isinstance(value, dict):
        value = value.get(split)
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else root / path


def resolve_split_path(dataset_params: Any, split: str, root: Path) -> Path:
    value = getattr(dataset_params, split)
    if value is None:
        raise DatasetError(
            f"params dataset.{split} is not set; create the experiment with --{split} FILE or "
            f"--set dataset.{split}=PATH"
        )
    path = Path(value)
    return path if path.is_absolute() else root / path


def label_space_from_params(dataset_params: Any, root: Path) -> LabelSpace:
    """Build the translator from the training file's categories and params."""
    train_path = resolve_split_path(dataset_params, "train", root)
    coco = load_coco(train_path)
    translator = make_translator(
        dataset_params, list(coco.dataset.get("categories", [])), root, str(train_path)
    )
    if isinstance(translator, CategoryTranslator):
        from abyssexp.datasets.category_map import class_names_for

        names = class_names_for(translator.mapping, coco.dataset.get("categories", []))
    else:
        names = list(translator.class_names or [])
    return LabelSpace(translator, names, translator.num_classes or len(names))


def dataset_for_split(
    dataset_params: Any,
    split: str,
    root: Path,
    labels: LabelSpace,
    coco_path: Path | None = None,
    softmax: bool = True,
) -> ImageClassificationDataset:
    """The ``ImageClassificationDataset`` of one split (``train``, ``val``; ``test`` with a path)."""
    path = coco_path or resolve_split_path(dataset_params, split, root)
    return ImageClassificationDataset(
        path,
        translator=labels.translator,
        image_dir=split_image_dir(dataset_params, split, root),
        unlabelled=dataset_params.unlabelled,
        background_logit=dataset_params.background_logit,
        multilabel="drop" if softmax and dataset_params.softmax_multilabel == "drop" else "keep",
        class_names=labels.class_names,
        num_classes=labels.num_classes,
    )

"""``ImageClassificationDataset``: the original team's class, on pycocotools.

Example (the seed's snippet, package name swapped)::

    from abyssexp.datasets.translators import CategoryTranslator
    from abyssexp.datasets.coco import ImageClassificationDataset
    cat_translator = CategoryTranslator(mapping={"1": 0, "2": 1})
    dataset = ImageClassificationDataset("coco.json", translator=cat_translator)
    img, tgt = dataset.sample()
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abyssexp.datasets.category_map import (
    automatic_category_map,
    build_category_map,
    class_names_for,
)
from abyssexp.datasets.images import read_image
from abyssexp.datasets.locate import find_image_dir, locate_image, resolve_image_path
from abyssexp.datasets.quick import quick_check_coco
from abyssexp.datasets.translators import (
    AnnotationTranslator,
    CaptionTranslator,
    CategoryTranslator,
)
from abyssexp.errors import DatasetError

if TYPE_CHECKING:
    from pycocotools.coco import COCO

    from abyssexp.schemas.params import DatasetParams

log = logging.getLogger(__name__)

UNLABELLED_RULES = ("drop", "zeros", "background")
MULTILABEL_RULES = ("keep", "drop", "refuse")
__all__ = ["ImageClassificationDataset", "load_coco", "make_translator", "resolve_image_path"]


def load_coco(path: Path | str, data: dict[str, Any] | None = None) -> COCO:
    """A ``pycocotools.coco.COCO`` index, its chatter kept off stdout."""
    from pycocotools.coco import COCO

    if data is None:
        data = quick_check_coco(Path(path))
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


class ImageClassificationDataset:
    """Images and their image-level labels from a COCO file.

    Args:
        coco_path: the COCO json.
        translator: turns annotations into logits; default: a ``CategoryTranslator`` over a map
            with one logit per category name.
        image_dir: folder of the images' ``file_name``s; default: found where export tools put
            images (``abyssexp.datasets.locate.find_image_dir``).
        unlabelled: ``drop`` (default, counted in ``dropped_unlabelled``), ``zeros`` (keep with no
            label, for sigmoid multilabel) or ``background`` (label ``background_logit``).
        background_logit: the logit for unlabelled images and ``enforce_one_vs_all``.
        multilabel: ``keep`` (default), ``drop`` or ``refuse`` images with several distinct
            labels.
        class_names: override the names per logit.
        coco_data: the file's JSON when the caller has already read and checked it.
    """

    def __init__(
        self,
        coco_path: str | Path,
        translator: AnnotationTranslator | None = None,
        image_dir: str | Path | None = None,
        unlabelled: str = "drop",
        background_logit: int | None = None,
        multilabel: str = "keep",
        class_names: list[str] | None = None,
        num_classes: int | None = None,
        seed: int | None = None,
        coco_data: dict[str, Any] | None = None,
    ) -> None:
        self.coco_path = Path(coco_path)
        if unlabelled not in UNLABELLED_RULES:
            raise DatasetError(
                f"unlabelled must be one of {', '.join(UNLABELLED_RULES)}. Received: {unlabelled!r}"
            )
        if unlabelled == "background" and background_logit is None:
            raise DatasetError("unlabelled='background' needs background_logit")
        self.coco = load_coco(self.coco_path, coco_data)
        categories = list(self.coco.dataset.get("categories", []))
        self.categories = categories
        if multilabel not in MULTILABEL_RULES:
            raise DatasetError(
                f"multilabel must be one of {', '.join(MULTILABEL_RULES)}. Received: {multilabel!r}"
            )
        if translator is None:
            mapping, _ = automatic_category_map(self.coco.dataset, "category", str(coco_path))
            translator = CategoryTranslator(mapping)
        self.translator = translator
        self.image_dir = (
            Path(image_dir)
            if image_dir is not None
            else find_image_dir(self.coco_path, self.coco.dataset["images"]).path
        )
        self.unlabelled = unlabelled
        self.background_logit = background_logit
        self._rng = random.Random(seed)

        self._num_classes = num_classes or translator.num_classes
        labels_by_image: dict[int, set[int]] = {}
        for annotation in self.coco.dataset["annotations"]:
            if translator.filter(annotation):
                labels_by_image.setdefault(annotation["image_id"], set()).update(
                    translator.translate(annotation)
                )
        if self._num_classes is None:
            seen = [max(v) for v in labels_by_image.values() if v]
            self._num_classes = (max(seen) + 1) if seen else 0
        if background_logit is not None and background_logit >= self._num_classes:
            raise DatasetError(
                f"background_logit {background_logit} is not a logit of this map "
                f"(0..{self._num_classes - 1})"
            )

        #: Images per logit in the file, before the unlabelled and multilabel rules: what
        #: ``data check`` shows as "in the file" next to what trains.
        self.file_class_counts = Counter(
            label for found in labels_by_image.values() for label in found
        )
        self._select_images(labels_by_image, unlabelled, background_logit, multilabel)

        if class_names is not None:
            self._class_names = list(class_names)
        elif isinstance(translator, CategoryTranslator) and categories:
            self._class_names = class_names_for(translator.mapping, categories)
        elif translator.class_names:
            self._class_names = list(translator.class_names)
        else:
            self._class_names = [str(i) for i in range(self._num_classes)]
        if self.dropped_unlabelled:
            log.info("%s: dropped %d unlabelled images", coco_path, self.dropped_unlabelled)

    def _select_images(
        self,
        labels_by_image: dict[int, set[int]],
        unlabelled: str,
        background_logit: int | None,
        multilabel: str,
    ) -> None:
        """Keep, relabel or drop each image by the unlabelled and multilabel rules."""
        coco_path = self.coco_path
        self.image_ids: list[int] = []
        self.labels: list[list[int]] = []
        self.image_paths: list[Path] = []
        self.dropped_unlabelled = 0
        self.dropped_multilabel = 0
        self.multilabel_ids: list[int] = []
        self.unlabelled_ids: list[int] = []
        #: (image id, file_name) of kept images whose file does not exist.
        self.missing_files: list[tuple[int, str]] = []
        folder = str(self.image_dir)
        for image in self.coco.dataset["images"]:
            image_id = image["id"]
            labels = sorted(labels_by_image.get(image_id, set()))
            if not labels:
                self.unlabelled_ids.append(image_id)
                if unlabelled == "drop":
                    self.dropped_unlabelled += 1
                    continue
                if unlabelled == "background":
                    labels = [int(background_logit)]  # type: ignore[arg-type]  # set: __init__ checks
            if len(labels) > 1:
                self.multilabel_ids.append(image_id)
                if multilabel == "refuse":
                    raise DatasetError(
                        f"{coco_path}: image {image_id} ({image['file_name']}) has "
                        f"{len(labels)} distinct labels and dataset.softmax_multilabel=refuse; "
                        "set it to drop or share, or use model.output_activation=sigmoid"
                    )
                if multilabel == "drop":
                    self.dropped_multilabel += 1
                    continue
            self.image_ids.append(image_id)
            self.labels.append(labels)
            path, found = locate_image(image, folder)
            self.image_paths.append(Path(path))
            if not found:
                self.missing_files.append((image_id, str(image["file_name"])))

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def num_classes(self) -> int:
        return int(self._num_classes or 0)  # set in __init__ (counted when not given)

    @property
    def class_names(self) -> list[str]:
        return list(self._class_names)

    @property
    def class_counts(self) -> dict[int, int]:
        """Images per logit (an image with two labels counts for both)."""
        counts = Counter(label for labels in self.labels for label in labels)
        return {logit: counts.get(logit, 0) for logit in range(self.num_classes)}

    def class_weights(self) -> dict[int, float]:
        """Balanced weights ``n_images / (n_classes * images_with_class)`` keyed by logit.

        Counting images per class (not argmax) keeps this right for multilabel data; a class with
        no image gets weight 1.
        """
        total = len(self)
        counts = self.class_counts
        return {
            logit: (total / (self.num_classes * count) if count else 1.0)
            for logit, count in counts.items()
        }

    def multihot(self, normalise: bool = False) -> np.ndarray:
        """Targets as an N×K float32 array; ``normalise`` shares the mass over several labels."""
        targets = np.zeros((len(self), self.num_classes), dtype=np.float32)
        for row, labels in enumerate(self.labels):
            if labels:
                targets[row, labels] = 1.0 / len(labels) if normalise else 1.0
        return targets

    def load(self, index: int) -> tuple[np.ndarray, list[int]]:
        return read_image(self.image_paths[index]), list(self.labels[index])

    def sample(self, index: int | None = None) -> tuple[np.ndarray, list[int]]:
        """One ``(H×W×3 uint8 RGB image, list of logit ids)``, random unless ``index`` is given."""
        if not len(self):
            raise DatasetError(f"{self.coco_path}: the dataset has no labelled images")
        if index is None:
            index = self._rng.randrange(len(self))
        return self.load(index)

    def generator(
        self, shuffle: bool = True, endless: bool = True
    ) -> Iterator[tuple[np.ndarray, list[int]]]:
        """Yield ``(image, labels)`` pairs; reshuffles on every pass (the original repeated one order)."""
        order = list(range(len(self)))
        while True:
            if shuffle:
                self._rng.shuffle(order)
            for index in order:
                yield self.load(index)
            if not endless:
                return


def make_translator(
    dataset_params: DatasetParams,
    categories: list[dict[str, Any]],
    base_dir: Path | None,
    coco_source: str,
    data: Mapping[str, Any] | None = None,
) -> AnnotationTranslator:
    """Build the translator that ``params.dataset`` describes.

    ``data`` (the whole COCO file) lets an automatic map drop a Roboflow placeholder category.
    """
    from abyssexp.datasets.category_map import load_category_map, read_map_value, validate_logits

    if dataset_params.translator == "caption":
        if dataset_params.caption_map is None:
            raise DatasetError("dataset.caption_map is required with translator=caption")
        raw, source = read_map_value(dataset_params.caption_map, base_dir, "caption map")
        return CaptionTranslator(
            validate_logits(raw, source), ignore_unmapped=dataset_params.ignore_unmapped_captions
        )
    if dataset_params.category_map is not None:
        mapping = load_category_map(
            dataset_params.category_map, categories, base_dir, coco_source=coco_source
        )
    else:
        by = dataset_params.map_by or "category"
        built = (
            automatic_category_map(data, by, coco_source)[0]
            if data is not None
            else build_category_map(categories, by, coco_source)
        )
        mapping = {int(k): v for k, v in built.items()}
    return CategoryTranslator(mapping, label_source=dataset_params.label_source)

"""Annotation translators: one COCO annotation → a list of logit ids.

Subclass ``AnnotationTranslator`` for a custom rule: ``filter`` says whether an annotation is an
image-level label at all, ``translate`` turns it into logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abyssexp.errors import DatasetError


def is_zero_area(annotation: Mapping[str, Any]) -> bool:
    """True for the team's image-level labels: bbox (0,0,0,0) or zero width/height, or a polygon
    with zero area. An annotation without geometry counts as zero-area."""
    bbox = annotation.get("bbox")
    if bbox is not None and len(bbox) == 4 and (float(bbox[2]) == 0 or float(bbox[3]) == 0):
        return True
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        return all(
            _polygon_area(poly, annotation) == 0 for poly in segmentation if isinstance(poly, list)
        )
    if bbox is None and not segmentation:
        area = annotation.get("area", 0) or 0
        return isinstance(area, int | float) and float(area) == 0
    return False


def _polygon_area(flat: list[Any], annotation: Mapping[str, Any]) -> float:
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        raise DatasetError(
            f"annotation {annotation.get('id')}: segmentation polygons must be lists of numbers "
            f"(image id {annotation.get('image_id')}); fix or drop it"
        )
    xs, ys = flat[0::2], flat[1::2]
    if len(xs) < 3:
        return 0.0
    total = 0.0
    for i in range(len(xs)):
        j = (i + 1) % len(xs)
        total += xs[i] * ys[j] - xs[j] * ys[i]
    return abs(total) / 2.0


class AnnotationTranslator:
    """Base class: override ``filter`` and ``translate``."""

    #: Class names by logit, when the translator knows them.
    class_names: list[str] | None = None

    def filter(self, annotation: Mapping[str, Any]) -> bool:
        """Whether this annotation carries an image-level label."""
        return True

    def translate(self, annotation: Mapping[str, Any]) -> list[int]:
        """The logit ids this annotation stands for."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int | None:
        return None


class CategoryTranslator(AnnotationTranslator):
    """Map ``category_id`` through a category map (the seed's ``CategoryTranslator(mapping=...)``).

    Args:
        mapping: ``{category_id: logit}``; keys may be strings as in JSON.
        label_source: ``any`` counts every annotation with a category_id; ``zero_area`` only the
            zero-area ones, for files that mix detection boxes with image labels.
    """

    def __init__(self, mapping: Mapping[Any, int], label_source: str = "any") -> None:
        if label_source not in ("any", "zero_area"):
            raise DatasetError(
                f"label_source must be 'any' or 'zero_area'. Received: {label_source!r}"
            )
        self.mapping = {int(k): int(v) for k, v in mapping.items()}
        self.label_source = label_source
        self._num_classes = len(set(self.mapping.values()))  # asked once per class: not a set each

    def filter(self, annotation: Mapping[str, Any]) -> bool:
        if "category_id" not in annotation:
            return False
        return self.label_source == "any" or is_zero_area(annotation)

    def translate(self, annotation: Mapping[str, Any]) -> list[int]:
        logit = self.mapping.get(int(annotation["category_id"]))
        return [] if logit is None else [logit]

    @property
    def num_classes(self) -> int:
        return self._num_classes


class CaptionTranslator(AnnotationTranslator):
    """The deprecated caption labels: comma-separated words mapped through a caption map."""

    def __init__(self, mapping: Mapping[str, int], ignore_unmapped: bool = False) -> None:
        self.mapping = {str(k).strip(): int(v) for k, v in mapping.items()}
        self.ignore_unmapped = ignore_unmapped
        names: dict[int, list[str]] = {}
        for word, logit in sorted(self.mapping.items()):
            names.setdefault(logit, []).append(word)
        self.class_names = ["+".join(names.get(i, [str(i)])) for i in range(len(names))]
        self._num_classes = len(names)

    def filter(self, annotation: Mapping[str, Any]) -> bool:
        return isinstance(annotation.get("caption"), str)

    def words(self, annotation: Mapping[str, Any]) -> list[str]:
        return [w.strip() for w in annotation["caption"].split(",") if w.strip()]

    def translate(self, annotation: Mapping[str, Any]) -> list[int]:
        words = self.words(annotation)
        unmapped = [w for w in words if w not in self.mapping]
        if unmapped and not self.ignore_unmapped:
            raise DatasetError(
                f"caption words not in the caption map: {', '.join(sorted(set(unmapped)))} "
                f"(annotation {annotation.get('id')}); add them to the map or set "
                "dataset.ignore_unmapped_captions=true"
            )
        return [self.mapping[w] for w in words if w in self.mapping]

    @property
    def num_classes(self) -> int:
        return self._num_classes

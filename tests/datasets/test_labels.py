"""Label rules: any / zero_area, multilabel, captions, unlabelled policies, fixtures."""

from pathlib import Path

import numpy as np
import pytest

from abyssexp.datasets.coco import ImageClassificationDataset
from abyssexp.datasets.translators import CaptionTranslator, CategoryTranslator, is_zero_area
from abyssexp.errors import DatasetError
from tests.conftest import SHARED_FIXTURES

CATS = [
    {"id": 1, "name": "lakeland_terrier", "supercategory": "dog"},
    {"id": 2, "name": "labrador", "supercategory": "dog"},
    {"id": 4, "name": "persian", "supercategory": "cat"},
]


def _images(n: int):
    pixels = np.full((8, 8, 3), 128, np.uint8)
    return [{"id": i, "file_name": f"{i}.jpg", "pixels": pixels} for i in range(1, n + 1)]


def _ann(i, image_id, category_id, bbox=(0, 0, 0, 0), **extra):
    return {"id": i, "image_id": image_id, "category_id": category_id, "bbox": list(bbox), **extra}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ({"bbox": [0, 0, 0, 0]}, True),
        ({"bbox": [5, 5, 0, 10]}, True),
        ({"bbox": [5, 5, 10, 10]}, False),
        ({"bbox": [5, 5, 10, 10], "segmentation": [[0, 0, 10, 0, 10, 10]]}, False),
        ({"segmentation": [[1, 1, 1, 1, 1, 1]]}, True),
        ({}, True),
    ],
)
def test_zero_area(annotation, expected) -> None:
    assert is_zero_area(annotation) is expected


def test_label_source_any_vs_zero_area(tmp_path: Path, coco_factory) -> None:
    path = coco_factory(
        tmp_path,
        _images(2),
        [_ann(1, 1, 1), _ann(2, 1, 4, bbox=(1, 1, 5, 5)), _ann(3, 2, 4, bbox=(2, 2, 3, 3))],
        CATS,
    )
    mapping = {"1": 0, "2": 1, "4": 2}
    anything = ImageClassificationDataset(path, translator=CategoryTranslator(mapping))
    assert anything.labels == [[0, 2], [2]]
    assert anything.multilabel_ids == [1]
    zero = ImageClassificationDataset(
        path, translator=CategoryTranslator(mapping, label_source="zero_area")
    )
    assert zero.labels == [[0]] and zero.dropped_unlabelled == 1


def test_duplicates_collapse_and_hierarchy_maps(tmp_path: Path, coco_factory) -> None:
    path = coco_factory(
        tmp_path, _images(3), [_ann(1, 1, 1), _ann(2, 1, 2), _ann(3, 2, 4), _ann(4, 3, 2)], CATS
    )
    dataset = ImageClassificationDataset(
        path, translator=CategoryTranslator({"1": 0, "2": 0, "4": 1})
    )
    assert dataset.labels == [[0], [1], [0]]  # terrier + labrador on one image: one "dog"
    assert dataset.num_classes == 2
    assert dataset.class_names == ["dog", "persian"]
    assert dataset.class_counts == {0: 2, 1: 1}


def test_unlabelled_policies(tmp_path: Path, coco_factory) -> None:
    path = coco_factory(tmp_path, _images(3), [_ann(1, 1, 1), _ann(2, 2, 4)], CATS)
    mapping = {"1": 0, "2": 1, "4": 2}
    dropped = ImageClassificationDataset(path, translator=CategoryTranslator(mapping))
    assert len(dropped) == 2 and dropped.dropped_unlabelled == 1
    zeros = ImageClassificationDataset(
        path, translator=CategoryTranslator(mapping), unlabelled="zeros"
    )
    assert zeros.labels[2] == [] and zeros.multihot()[2].sum() == 0
    background = ImageClassificationDataset(
        path, translator=CategoryTranslator(mapping), unlabelled="background", background_logit=1
    )
    assert background.labels[2] == [1]
    with pytest.raises(DatasetError, match="needs background_logit"):
        ImageClassificationDataset(
            path, translator=CategoryTranslator(mapping), unlabelled="background"
        )


def test_softmax_multilabel_share_and_drop(tmp_path: Path, coco_factory) -> None:
    path = coco_factory(tmp_path, _images(2), [_ann(1, 1, 1), _ann(2, 1, 4), _ann(3, 2, 4)], CATS)
    mapping = {"1": 0, "2": 1, "4": 2}
    shared = ImageClassificationDataset(path, translator=CategoryTranslator(mapping))
    assert shared.multihot(normalise=True)[0].tolist() == [0.5, 0.0, 0.5]
    dropped = ImageClassificationDataset(
        path, translator=CategoryTranslator(mapping), multilabel="drop"
    )
    assert dropped.labels == [[2]] and dropped.dropped_multilabel == 1


def test_class_weights_count_images_per_class(tmp_path: Path, coco_factory) -> None:
    path = coco_factory(
        tmp_path,
        _images(4),
        [_ann(1, 1, 1), _ann(2, 2, 1), _ann(3, 3, 1), _ann(4, 3, 4), _ann(5, 4, 4)],
        CATS,
    )
    dataset = ImageClassificationDataset(path, translator=CategoryTranslator({"1": 0, "4": 1}))
    # 4 images, 2 classes: class 0 on 3 images, class 1 on 2 (one image has both).
    assert dataset.class_weights() == pytest.approx({0: 4 / (2 * 3), 1: 4 / (2 * 2)})


def test_caption_translator(tmp_path: Path, coco_factory) -> None:
    path = coco_factory(
        tmp_path,
        _images(1),
        [{"id": 1, "image_id": 1, "caption": "dog, cat,bird"}],
    )
    translator = CaptionTranslator({"dog": 0, "cat": 1, "bird": 1})
    dataset = ImageClassificationDataset(path, translator=translator)
    assert dataset.labels == [[0, 1]] and dataset.class_names == ["dog", "bird+cat"]
    with pytest.raises(DatasetError, match="caption words not in the caption map: bird"):
        ImageClassificationDataset(path, translator=CaptionTranslator({"dog": 0, "cat": 1}))
    lenient = CaptionTranslator({"dog": 0, "cat": 1}, ignore_unmapped=True)
    assert ImageClassificationDataset(path, translator=lenient).labels == [[0, 1]]


def test_original_team_fixtures_load() -> None:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(
            f"the original team's fixtures are not beside this checkout ({SHARED_FIXTURES})"
        )
    segmentation = SHARED_FIXTURES / "coco-segmentation.json"
    dataset = ImageClassificationDataset(segmentation)
    assert len(dataset) == 1 and dataset.num_classes == 6
    # The absolute `path` no longer exists: the file_name next to the COCO file is used.
    assert dataset.image_paths[0] == SHARED_FIXTURES / "demo_image.jpg"
    image, labels = dataset.sample()
    assert image.shape == (768, 1196, 3) and image.dtype == np.uint8 and len(labels) == 6
    zero = ImageClassificationDataset(
        segmentation,
        translator=CategoryTranslator({str(i): i - 1 for i in range(1, 7)}, "zero_area"),
    )
    assert len(zero) == 0 and zero.dropped_unlabelled == 1
    words = ["nasir", "lash", "masrur", "masood", "rishi", "paper"]
    caption = ImageClassificationDataset(
        SHARED_FIXTURES / "coco-caption.json",
        translator=CaptionTranslator({w: i for i, w in enumerate(words)}),
    )
    assert caption.labels == [[0, 1, 2, 3, 4, 5]]


def test_generator_reshuffles_every_pass(tmp_path: Path, coco_factory) -> None:
    images = _images(12)
    path = coco_factory(
        tmp_path, images, [_ann(i, i, 1 if i % 2 else 4) for i in range(1, 13)], CATS
    )
    dataset = ImageClassificationDataset(path, seed=3)
    dataset.load = lambda index: (index, dataset.labels[index])  # order only; no decoding
    generator = dataset.generator(shuffle=True, endless=True)
    first = [next(generator)[0] for _ in range(12)]
    second = [next(generator)[0] for _ in range(12)]
    assert sorted(first) == sorted(second) == list(range(12))
    assert first != second
    finite = list(dataset.generator(shuffle=False, endless=False))
    assert [i for i, _ in finite] == list(range(12))

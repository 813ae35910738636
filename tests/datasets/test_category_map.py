import json
from pathlib import Path

import pytest

from abyssexp.datasets.category_map import build_category_map, class_names_for, load_category_map
from abyssexp.errors import DatasetError

CATS = [
    {"id": 1, "name": "lakeland_terrier", "supercategory": "dog"},
    {"id": 2, "name": "german_shepherd", "supercategory": "dog"},
    {"id": 3, "name": "labrador", "supercategory": "dog"},
    {"id": 4, "name": "persian", "supercategory": "cat"},
    {"id": 5, "name": "siamese", "supercategory": "cat"},
    {"id": 6, "name": "sphynx", "supercategory": "cat"},
]


def test_seed_dog_cat_example() -> None:
    seed_map = {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1, "6": 1}
    mapping = load_category_map(seed_map, CATS)
    assert len(set(mapping.values())) == 2
    assert class_names_for(mapping, CATS) == ["dog", "cat"]


def test_build_by_category_and_supercategory() -> None:
    by_name = build_category_map(CATS, "category")
    assert by_name["3"] == 1 and by_name["1"] == 2  # sorted: german_shepherd, labrador, lakeland...
    assert build_category_map(CATS, "supercategory") == {
        "1": 1,
        "2": 1,
        "3": 1,
        "4": 0,
        "5": 0,
        "6": 0,
    }


def test_collapsed_names_without_shared_supercategory() -> None:
    cats = [
        {"id": 1, "name": "a", "supercategory": ""},
        {"id": 2, "name": "b", "supercategory": ""},
    ]
    assert class_names_for({1: 0, 2: 0}, cats) == ["a+b"]


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ({"1": 0, "7": 1}, "category id 7 is not in"),
        ({"1": 0, "2": 2}, "missing [1]"),
        ({"1": 0, "2": "x"}, "must be an integer logit. Received: 'x'"),
        ({"1": 0, "2": 1.5}, "must be an integer logit. Received: 1.5"),
        ({"1": -1}, "negative"),
        ({}, "empty"),
        ({"dog": 0}, "not a category id"),
    ],
)
def test_bad_maps(mapping, fragment) -> None:
    with pytest.raises(DatasetError) as info:
        load_category_map(mapping, CATS, coco_source="train.json")
    assert fragment in str(info.value)


def test_map_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "map.json"
    broken.write_text('{"1": 0,')
    with pytest.raises(DatasetError, match=r"map.json: not valid JSON"):
        load_category_map(str(broken), CATS)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"1": 0, "4": 1}))
    assert load_category_map(str(good), CATS) == {1: 0, 4: 1}
    with pytest.raises(DatasetError, match="file not found"):
        load_category_map(str(tmp_path / "none.json"), CATS)


def test_supercategory_needs_supercategories() -> None:
    with pytest.raises(DatasetError, match="no supercategory"):
        build_category_map([{"id": 1, "name": "a"}], "supercategory")

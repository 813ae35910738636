import json
from pathlib import Path

import pytest

from abyssexp.datasets.category_map import (
    build_category_map,
    class_names_for,
    load_category_map,
    validate_logits,
)
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


def test_huge_logit_costs_nothing_and_the_message_stays_short() -> None:
    # Trust #12: a logit of 10**9 was counted up to (OOM at 22 GB); 10**7 printed an 89 MB line.
    import tracemalloc

    mapping = {"1": 0, "4": 10**7, **{str(i): 10**7 + i for i in range(100, 200)}}
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as info:
            validate_logits(mapping, "category map m.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert peak < 2_000_000, peak
    assert len(message) < 250 and "\n" not in message, message
    assert "missing [1, 2, 3, 4, 5 ... and 96 more]" in message
    assert "too large: 10000000, 10000100" in message and "and 96 more" in message


def test_huge_logit_in_data_check_is_one_line(runner, tmp_path: Path, coco_factory) -> None:
    from abyssexp.cli import app

    path = coco_factory(tmp_path, [], [], [{"id": 3, "name": "a"}, {"id": 31, "name": "b"}])
    huge = tmp_path / "map.json"
    huge.write_text(json.dumps({"3": 0, "31": 1_000_000_000}))
    result = runner.invoke(app, ["data", "check", str(path), "--category-map", str(huge)])
    assert result.exit_code == 1, result.output
    assert "missing [1], too large: 1000000000" in result.output
    assert "Traceback" not in result.output

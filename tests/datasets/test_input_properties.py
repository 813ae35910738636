"""Property-based: any COCO file or category map gives a result or abyssexp's own error, quickly.

The inputs are arbitrary JSON (and arbitrary bytes), shaped often enough like COCO to reach the
deeper checks: never a ``TypeError``, ``KeyError`` or ``RecursionError`` from the user's file.
"""

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abyssexp.datasets.category_map import load_category_map
from abyssexp.datasets.check import check_coco
from abyssexp.datasets.quick import quick_check_coco
from abyssexp.errors import AbyssExpError

_FAST = settings(
    max_examples=120,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([0, 1, 2, 3, 10**9]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)
_ID = st.one_of(st.integers(min_value=0, max_value=4), _JSON)


def _maybe(key: str, value: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.one_of(st.just({}), value.map(lambda v: {key: v}))


_IMAGE = st.builds(
    lambda a, b, c: {**a, **b, **c},
    _maybe("id", _ID),
    _maybe("file_name", st.one_of(st.sampled_from(["a.png", "b.jpg", ""]), _JSON)),
    _maybe("path", _JSON),
)
_ANNOTATION = st.builds(
    lambda *parts: {k: v for part in parts for k, v in part.items()},
    _maybe("id", _ID),
    _maybe("image_id", _ID),
    _maybe("category_id", _ID),
    _maybe("bbox", st.one_of(st.just([0, 0, 0, 0]), _JSON)),
    _maybe("segmentation", st.one_of(st.just([[0, 0, 1, 1, 2, 2]]), _JSON)),
    _maybe("area", _JSON),
    _maybe("caption", st.one_of(st.just("a, b"), _JSON)),
)
_CATEGORY = st.builds(
    lambda *parts: {k: v for part in parts for k, v in part.items()},
    _maybe("id", _ID),
    _maybe("name", st.one_of(st.sampled_from(["a", "b"]), _JSON)),
    _maybe("supercategory", st.one_of(st.just("s"), _JSON)),
)
_COCO = st.one_of(
    _JSON,
    st.builds(
        lambda images, annotations, categories: {
            "images": images,
            "annotations": annotations,
            "categories": categories,
        },
        st.one_of(st.lists(_IMAGE, max_size=4), _JSON),
        st.one_of(st.lists(_ANNOTATION, max_size=5), _JSON),
        st.one_of(st.lists(_CATEGORY, max_size=3), _JSON),
    ),
)
_MAPS = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["0", "1", "2", "3", "x", "1" * 5000]), st.text(max_size=5)),
        st.one_of(st.integers(min_value=-2, max_value=5), st.sampled_from([10**9, 10**18]), _JSON),
        max_size=6,
    ),
    _JSON,
)


@_FAST
@given(coco=_COCO, label_source=st.sampled_from(["any", "zero_area"]))
def test_property_coco_check_gives_a_report_or_our_error(
    tmp_path: Path, coco, label_source
) -> None:
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    try:
        quick_check_coco(path)
    except AbyssExpError:
        pass
    for translator, caption_map in (("category", None), ("caption", {"a": 0, "b": 1})):
        report = check_coco(
            path,
            translator=translator,
            caption_map=caption_map,
            label_source=label_source,
            decode=False,
        )
        assert all("\n" not in problem and len(problem) < 600 for problem in report.problems)


@_FAST
@given(st.binary(max_size=300) | st.sampled_from([b"[" * 100_000, b'{"images": [' * 5000]))
def test_property_coco_bytes_give_our_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "coco.json"
    path.write_bytes(raw)
    try:
        quick_check_coco(path)
    except AbyssExpError:
        pass


@_FAST
@given(mapping=_MAPS, inline=st.booleans())
def test_property_category_map_gives_a_map_or_our_error(
    tmp_path: Path, mapping, inline: bool
) -> None:
    categories = [{"id": i, "name": f"c{i}"} for i in range(4)]
    value = mapping
    if not inline:
        value = tmp_path / "map.json"
        value.write_text(json.dumps(mapping))
    if inline and not isinstance(mapping, dict):
        return  # params only ever hold a dict or a path inline
    try:
        result = load_category_map(value, categories)
    except AbyssExpError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    assert sorted(set(result.values())) == list(range(len(set(result.values()))))

"""Category maps: ``{"category_id": logit}``, inline, from a file, or built by name/supercategory.

Many-to-one maps collapse a label hierarchy (lakeland_terrier, labrador → dog); the number of classes
is the number of distinct logits, which must be exactly ``0..K-1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from abyssexp.errors import DatasetError, first_few, shorten
from abyssexp.jsonio import read_json


def build_category_map(
    categories: Sequence[Mapping[str, Any]],
    by: str,
    source: str = "COCO file",
    exclude: Sequence[int] = (),
) -> dict[str, int]:
    """One logit per category name (``by="category"``) or supercategory, names sorted; the
    category ids in ``exclude`` (a Roboflow placeholder) get no logit."""
    categories = [c for c in categories if c["id"] not in set(exclude)]
    if not categories:
        raise DatasetError(f"{source}: no categories to build a map from (map_by={by})")
    if by == "category":
        keys = {c["id"]: str(c["name"]) for c in categories}
    elif by == "supercategory":
        missing = [c["id"] for c in categories if not c.get("supercategory")]
        if missing:
            raise DatasetError(
                f"{source}: categories {missing[:5]} have no supercategory; use map_by=category "
                "or give a category_map"
            )
        keys = {c["id"]: str(c["supercategory"]) for c in categories}
    else:
        raise DatasetError(f"map_by must be 'category' or 'supercategory'. Received: {by!r}")
    logits = {name: i for i, name in enumerate(sorted(set(keys.values())))}
    return {str(cid): logits[name] for cid, name in sorted(keys.items())}


def automatic_category_map(
    data: Mapping[str, Any], by: str, source: str
) -> tuple[dict[str, int], list[str]]:
    """The map ``map_by`` builds from a whole COCO file, without Roboflow's placeholder category,
    and the lines that say what was dropped."""
    from abyssexp.datasets.dialects import placeholder_categories, placeholder_note

    placeholders = placeholder_categories(data)
    mapping = build_category_map(
        list(data.get("categories", [])), by, source, exclude=[c["id"] for c in placeholders]
    )
    note = placeholder_note(placeholders, source)
    return mapping, [note] if note else []


def check_unique_names(names: Sequence[str], source: str) -> None:
    """Refuse a map whose class table would give two logits the same name."""
    seen: dict[str, int] = {}
    for logit, name in enumerate(names):
        if name in seen:
            raise DatasetError(
                f"{source}: logits {seen[name]} and {logit} are both named {shorten(repr(name), 40)}; "
                "per-class counts and metrics would merge them. Give a category_map whose logits "
                "stand for different categories, or use map_by=category"
            )
        seen[name] = logit


def read_map_value(
    value: Mapping[str, Any] | str | Path, base_dir: Path | None, what: str
) -> tuple[dict[str, Any], str]:
    """Return the raw map and a description of where it came from (for messages)."""
    if isinstance(value, Mapping):
        return dict(value), f"{what} (inline)"
    path = Path(value)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    source = f"{what} {path}"
    data = read_json(path, source, DatasetError)
    if not isinstance(data, dict):
        raise DatasetError(f'{source}: must be a JSON object {{"category_id": logit}}')
    return data, source


def validate_logits(mapping: Mapping[str, Any], source: str) -> dict[str, int]:
    """Values must be integers covering exactly 0..K-1.

    Costs O(number of entries) whatever the values: a logit of 10**9 is reported, not counted up to.
    """
    result: dict[str, int] = {}
    for key, value in mapping.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise DatasetError(
                f"{source}: value for {shorten(repr(key), 40)} must be an integer logit. "
                f"Received: {shorten(repr(value), 40)}"
            )
        if value < 0:
            raise DatasetError(
                f"{source}: logit for {shorten(repr(key), 40)} is negative ({shorten(str(value))})"
            )
        result[str(key)] = value
    if not result:
        raise DatasetError(f"{source}: the map is empty")
    logits = set(result.values())
    count = len(logits)
    too_large = sorted(v for v in logits if v >= count)
    if too_large:
        # Every logit is in 0..count-1 once the too-large ones are gone, so the gaps number as
        # many as the too-large values: never more than there are map entries.
        missing = sorted(set(range(count)) - logits)
        raise DatasetError(
            f"{source}: logits must be exactly 0..{count - 1} for {count} distinct values; "
            f"missing [{first_few(missing)}], too large: {first_few(too_large, width=20)}"
        )
    return result


def load_category_map(
    value: Mapping[str, Any] | str | Path,
    categories: Sequence[Mapping[str, Any]],
    base_dir: Path | None = None,
    coco_source: str = "the COCO file",
    what: str = "category map",
) -> dict[int, int]:
    """Validate a category map against a COCO file's categories; keys become ints."""
    raw, source = read_map_value(value, base_dir, what)
    checked = validate_logits(raw, source)
    known = {int(c["id"]) for c in categories}
    result: dict[int, int] = {}
    for key, logit in checked.items():
        try:
            category_id = int(key)
        except ValueError:
            raise DatasetError(
                f"{source}: key {shorten(repr(key), 40)} is not a category id"
            ) from None
        if category_id not in known:
            raise DatasetError(
                f"{source}: category id {shorten(str(category_id))} is not in {coco_source} "
                f"(known: {first_few(sorted(known), 10)})"
            )
        result[category_id] = logit
    return result


def class_names_for(
    mapping: Mapping[int, int], categories: Sequence[Mapping[str, Any]]
) -> list[str]:
    """A name per logit: the category name, or the shared supercategory when a map collapses
    several categories (else their names joined with '+')."""
    by_id = {int(c["id"]): c for c in categories}
    members_of: dict[int, list[Mapping[str, Any]]] = {}
    for cid, value in sorted(mapping.items()):
        members_of.setdefault(value, []).append(by_id[cid])
    names = []
    for logit in range(len(members_of)):
        members = members_of.get(logit, [])
        if len(members) == 1:
            names.append(str(members[0]["name"]))
            continue
        supers = {str(m.get("supercategory") or "") for m in members}
        if len(supers) == 1 and "" not in supers:
            names.append(supers.pop())
        else:
            names.append("+".join(str(m["name"]) for m in members))
    return names

"""``abyssexp data stats | split | merge | from-folders``: prepare COCO classification files.

Every tool that writes plans first (reads and checks all its inputs, names every output), then
writes: outputs are COCO JSON written atomically, an existing file is refused unless ``force``,
and the exact command line is appended to ``make-datasets.sh`` beside the outputs, so
``abyssexp new --make-datasets`` can record how the data was made. Nothing here decodes pixels
or imports TensorFlow.
"""

from __future__ import annotations

import random
import re
import shlex
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from abyssexp.atomic import atomic_write_json, atomic_write_text
from abyssexp.config import check_outputs
from abyssexp.datasets.locate import find_image_dir, resolve_image_path
from abyssexp.datasets.near_duplicates import NEAR_DISTANCE
from abyssexp.datasets.quick import quick_check_coco
from abyssexp.errors import DatasetError, InvalidInputError, first_few, shorten
from abyssexp.owned import make_dirs
from abyssexp.userregex import compile_user_regex

MAKE_DATASETS = "make-datasets.sh"
#: ``data split`` says so when a split's share of the images misses the requested one by more
#: than this (a fraction of all images): grouping assigns whole groups, so shares drift.
SHARE_TOLERANCE = 0.05
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_SCRIPT_HEADER = (
    "#!/bin/sh\n# How the datasets beside this script were made (abyssexp data).\nset -e\n"
)


def write_outputs(
    outputs: Mapping[Path, Any], command_line: Sequence[str], force: bool = False
) -> list[Path]:
    """Write each output atomically (refusing existing files without ``force``) and append the
    command line to ``make-datasets.sh`` in the first output's folder.

    Raises:
        InvalidInputError: an output exists and ``force`` is not set (nothing is written).
    """
    check_outputs(outputs)  # never through a symlinked folder of the scratch (owned.py)
    existing = [path for path in outputs if path.exists()]
    if existing and not force:
        raise InvalidInputError(
            f"{existing[0]}: already exists; pass --force to overwrite it, or write elsewhere "
            f"({len(existing)} output(s) exist: {first_few([p.name for p in existing], width=None)})"
        )
    for path, data in outputs.items():
        make_dirs(path.parent)
        atomic_write_json(path, data, indent=None)
    if outputs and command_line:
        record_command(next(iter(outputs)).parent / MAKE_DATASETS, command_line)
    return list(outputs)


def record_command(script: Path, command_line: Sequence[str]) -> None:
    """Append one command to a ``make-datasets.sh`` (created executable with a header)."""
    text = script.read_text() if script.is_file() else _SCRIPT_HEADER
    if not text.endswith("\n"):
        text += "\n"
    atomic_write_text(script, text + shlex.join(command_line) + "\n")
    script.chmod(0o755)


def _label_names(data: Mapping[str, Any]) -> dict[int, list[str]]:
    """Category names per image id (sorted, distinct)."""
    names = {c["id"]: str(c["name"]) for c in data.get("categories", [])}
    found: dict[int, set[str]] = defaultdict(set)
    for annotation in data["annotations"]:
        if "category_id" in annotation and annotation["category_id"] in names:
            found[annotation["image_id"]].add(names[annotation["category_id"]])
    return {image_id: sorted(labels) for image_id, labels in found.items()}


class DatasetStats(TypedDict):
    """``data stats``: per file its totals (images, labelled, unlabelled, multilabel,
    annotations), per class and file its images and annotations, and a short label per file."""

    files: list[str]
    labels: list[str]
    totals: dict[str, dict[str, int]]
    classes: dict[str, dict[str, dict[str, int]]]


def dataset_stats(paths: Sequence[Path]) -> DatasetStats:
    """Per-class images and annotations of each file, side by side (by category name)."""
    classes: dict[str, dict[str, dict[str, int]]] = {}
    totals: dict[str, dict[str, int]] = {}
    for path in paths:
        data = quick_check_coco(path)
        key = str(path)
        labels = _label_names(data)
        names = {c["id"]: str(c["name"]) for c in data.get("categories", [])}
        annotations = Counter(
            names[a["category_id"]] for a in data["annotations"] if a.get("category_id") in names
        )
        images = Counter(name for labels_ in labels.values() for name in labels_)
        for name in sorted(set(names.values())):
            entry = classes.setdefault(name, {})
            entry[key] = {"images": images.get(name, 0), "annotations": annotations.get(name, 0)}
        totals[key] = {
            "images": len(data["images"]),
            "labelled": sum(1 for image in data["images"] if labels.get(image["id"])),
            "unlabelled": sum(1 for image in data["images"] if not labels.get(image["id"])),
            "multilabel": sum(1 for labels_ in labels.values() if len(labels_) > 1),
            "annotations": len(data["annotations"]),
        }
    for entry in classes.values():
        for key in totals:
            entry.setdefault(key, {"images": 0, "annotations": 0})
    return {
        "files": list(totals),
        "labels": short_labels([Path(key) for key in totals]),
        "totals": totals,
        "classes": dict(sorted(classes.items())),
    }


def short_labels(paths: Sequence[Path]) -> list[str]:
    """The shortest trailing part of each path that tells it from the others (``train/_ann…``
    and ``valid/_ann…`` for two Roboflow splits; the file name alone when names differ).

    Example:
        >>> short_labels([Path("a/x/c.json"), Path("b/x/c.json"), Path("d.json")])
        ['a/x/c.json', 'b/x/c.json', 'd.json']
    """
    parts = [path.absolute().parts for path in paths]
    labels = []
    for index, own in enumerate(parts):
        others = [p for i, p in enumerate(parts) if i != index and p != own]
        depth = 1
        while depth < len(own) and any(p[-depth:] == own[-depth:] for p in others):
            depth += 1
        labels.append("/".join(own[-depth:]))
    return labels


#: The key of an image that ``--group-by``'s regex does not match: a group of its own.
_OWN_GROUP = "id:"
#: The key of an image whose first regex group took no part in the match (``(in_)?``).
_NO_GROUP = "none:"


def _group_key(group_by: str | None) -> Any:
    """``image → group`` from an image attribute name, or a regex over ``file_name`` (its first
    group when it has one); an image the regex does not match is its own group."""
    if group_by is None:
        return lambda image: f"{_OWN_GROUP}{image['id']}"
    if not group_by.strip():
        raise InvalidInputError(
            f"--group-by {shlex.quote(group_by)}: empty (it would put every image in one group); give an "
            "image field or a regular expression, e.g. --group-by '^([^_]+)_' or --group-by "
            "video_id"
        )
    pattern = compile_user_regex(  # RE2: linear time, never catastrophic backtracking
        group_by,
        "--group-by (neither an image field nor a regular expression)",
        "--group-by '^([^_]+)_' or --group-by video_id",
    )

    def key(image: Mapping[str, Any]) -> str:
        if group_by in image:
            return f"field:{image[group_by]}"
        match = pattern.search(str(image["file_name"]))
        if match is None:
            return f"{_OWN_GROUP}{image['id']}"
        value = match.group(1) if pattern.groups else match.group(0)
        return f"{_NO_GROUP}{image['id']}" if value is None else f"re:{value}"

    return key


def _non_capturing(pattern: str) -> str:
    """``pattern`` with its first capturing group made non-capturing (the fix to suggest)."""
    found = re.search(r"(?<!\\)\((?!\?)", pattern)
    return pattern if found is None else f"{pattern[: found.end()]}?:{pattern[found.end() :]}"


def regex_groups(
    data: Mapping[str, Any], group_by: str, splits: int = 2
) -> tuple[dict[Any, str], list[str]]:
    """Image id → group for ``--group-by`` (a field or a regex), and a warning naming how many
    images the regex did not match (each is then its own group) and the fix.

    Raises:
        InvalidInputError: the regex's first group takes no part in some matches (``(in_)?``
            would lump those images into one group), or every image lands in one group while
            ``splits`` (more than one) are asked for.
    """
    key = _group_key(group_by)
    groups = {image["id"]: key(image) for image in data["images"]}
    names = {image["id"]: str(image["file_name"]) for image in data["images"]}
    lumped = [names[i] for i, group in groups.items() if group.startswith(_NO_GROUP)]
    if lumped:
        raise InvalidInputError(
            f"--group-by {shlex.quote(group_by)}: its first group takes no part in the match of "
            f"{len(lumped)} image(s) ({first_few(lumped, 3, width=None)}), which would share one "
            f"group; make optional parts non-capturing: --group-by {shlex.quote(_non_capturing(group_by))}"
        )
    alone = [names[i] for i, group in groups.items() if group.startswith(_OWN_GROUP)]
    if splits > 1 and len(set(groups.values())) == 1 and len(groups) > 1:
        raise InvalidInputError(
            f"--group-by {shlex.quote(group_by)}: all {len(groups)} images fall in one group "
            f"({shorten(next(iter(groups.values())), 40)}), so nothing could go to val or test; "
            "capture the part that differs, e.g. --group-by '^([^_]+)_'"
        )
    warnings = []
    if alone:
        warnings.append(
            f"--group-by {shlex.quote(group_by)}: {len(alone)} of {len(groups)} image(s) did not match "
            f"({first_few(alone, 3, width=None)}); each is its own group: widen the regex if "
            "they belong with others"
        )
    return groups, warnings


def plan_split(
    data: Mapping[str, Any],
    fractions: Mapping[str, float],
    seed: int,
    group_by: str | Mapping[Any, str] | None,
) -> dict[str, list[int]]:
    """Image ids per split: stratified by label set, seeded, and group-aware.

    Groups (images that share a key; ``group_by`` may also map image id → group) are the unit
    that is assigned, so a group never straddles splits. Groups are bucketed by the label set
    most of their images carry; within a bucket, in a seeded order, largest first, each group
    goes to the split furthest below its share of that bucket plus its share of all images
    placed so far (the second term keeps many small buckets from all rounding the same way).
    """
    labels = _label_names(data)
    key = (
        (lambda image: group_by[image["id"]])
        if isinstance(group_by, Mapping)
        else _group_key(group_by)
    )
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for image in data["images"]:
        groups[key(image)].append(image)
    buckets: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, members in groups.items():
        common = Counter(tuple(labels.get(i["id"], [])) for i in members).most_common(1)[0][0]
        buckets[common].append(name)
    rng = random.Random(seed)
    result: dict[str, list[int]] = {split: [] for split in fractions}
    overall = dict.fromkeys(fractions, 0)
    for signature in sorted(buckets):
        names = sorted(buckets[signature])
        rng.shuffle(names)
        names.sort(key=lambda n: len(groups[n]), reverse=True)  # stable: seeded among equals
        total = sum(len(groups[n]) for n in names)
        placed = dict.fromkeys(fractions, 0)
        for name in names:
            split = _choose_split(fractions, total, placed, overall, len(groups[name]))
            placed[split] += len(groups[name])
            overall[split] += len(groups[name])
            result[split].extend(image["id"] for image in groups[name])
    return result


def _choose_split(
    fractions: Mapping[str, float],
    total: int,
    placed: Mapping[str, int],
    overall: Mapping[str, int],
    size: int,
) -> str:
    """The split furthest below its share of this bucket plus its share of everything placed."""
    done = sum(overall.values()) + size

    def deficit(split: str) -> float:
        wanted = fractions[split]
        return (wanted * total - placed[split]) + (wanted * done - overall[split])

    return max(fractions, key=deficit)


def share_warnings(
    ids: Mapping[str, Sequence[int]],
    fractions: Mapping[str, float],
    groups: Mapping[Any, str] | None = None,
) -> list[str]:
    """One line per split whose share of the images misses the requested share by more than
    ``SHARE_TOLERANCE``, with the likely reason (the largest group's share)."""
    total = sum(len(v) for v in ids.values())
    if not total:
        return []
    why = ""
    if groups:
        largest, size = Counter(groups.values()).most_common(1)[0]
        why = (
            f"; groups are assigned whole, and the largest ({shorten(str(largest), 40)}) holds "
            f"{size} image(s), {size / total:.0%} of all"
        )
    warnings = []
    for split, wanted in fractions.items():
        got = len(ids[split]) / total
        if abs(got - wanted) > SHARE_TOLERANCE:
            warnings.append(
                f"{split}: {len(ids[split])} image(s), {got:.0%} of {total}, asked {wanted:.0%} "
                f"(missed by {abs(got - wanted) * 100:.0f} points, tolerance "
                f"{SHARE_TOLERANCE * 100:.0f}){why}"
            )
    return warnings


def subset(data: Mapping[str, Any], image_ids: Sequence[int], paths: Mapping[int, str]) -> dict:
    """A COCO file with only ``image_ids`` (ids kept); ``paths`` adds absolute image paths."""
    keep = set(image_ids)
    images = [
        {**image, **({"path": paths[image["id"]]} if image["id"] in paths else {})}
        for image in data["images"]
        if image["id"] in keep
    ]
    annotations = [a for a in data["annotations"] if a["image_id"] in keep]
    extra = {k: v for k, v in data.items() if k not in ("images", "annotations")}
    return {**extra, "images": images, "annotations": annotations}


def _image_paths(
    path: Path, data: Mapping[str, Any], out_dir: Path, image_dir: Path | None = None
) -> dict[int, str]:
    """Absolute image paths, needed when the output is not beside the images' folder.

    Raises:
        InvalidInputError: an image file does not exist (a split that points at missing files
            would only fail later, at ``new`` or ``train``).
    """
    from abyssexp.datasets.locate import require_images

    folder = require_images(path, data["images"], image_dir)
    if out_dir.resolve() == path.resolve().parent and folder.path == path.resolve().parent:
        return {}
    return {
        image["id"]: str(resolve_image_path(image, folder.path).resolve())
        for image in data["images"]
    }


def near_groups(
    data: Mapping[str, Any], image_dir: Path, max_distance: int = NEAR_DISTANCE
) -> dict[Any, str]:
    """Image id → group for ``--group-by near``: near-duplicates (``near_duplicates.py``, the
    rule ``data check``, ``new`` and ``data leaks --near`` use) linked transitively (a burst of
    photos is one group); an image that does not decode is its own group."""
    from abyssexp.datasets.leaks import near_clusters

    paths = [resolve_image_path(image, image_dir) for image in data["images"]]
    clusters = near_clusters(paths, max_distance)
    return {image["id"]: f"near:{c}" for image, c in zip(data["images"], clusters, strict=True)}


def split_coco(
    path: Path,
    val: float,
    test: float,
    seed: int,
    group_by: str | None = None,
    out_dir: Path | None = None,
    prefix: str = "coco",
    image_dir: Path | None = None,
) -> tuple[dict[Path, Any], dict[str, int], list[str]]:
    """Plan ``data split``: the output files and their contents, images per split, and a line
    per split whose share missed the requested one (``SHARE_TOLERANCE``)."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise InvalidInputError(
            f"--val {val} and --test {test}: each must be in [0, 1) and together below 1"
        )
    data = quick_check_coco(path)
    if not data["images"]:
        raise DatasetError(f"{path}: holds no images; nothing to split")
    fractions = {"train": 1 - val - test, "val": val, "test": test}
    fractions = {k: v for k, v in fractions.items() if v > 0}
    out_dir = (out_dir or path.parent).absolute()
    paths = _image_paths(path, data, out_dir, image_dir)
    groups: Mapping[Any, str] | None = None
    notes: list[str] = []
    if group_by == "near":
        folder = find_image_dir(path, data["images"], image_dir).path
        groups = near_groups(data, folder)
    elif group_by is not None:
        groups, notes = regex_groups(data, group_by, len(fractions))
    ids = plan_split(data, fractions, seed, groups)
    outputs = {out_dir / f"{prefix}.{split}.json": subset(data, ids[split], paths) for split in ids}
    counts = {split: len(found) for split, found in ids.items()}
    return outputs, counts, [*notes, *share_warnings(ids, fractions, groups)]


def merge_coco(paths: Sequence[Path], out: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Plan ``data merge``: one COCO file with image and annotation ids renumbered and categories
    unified by name.

    Raises:
        DatasetError: one category name with two different supercategories.
    """
    categories: dict[str, dict[str, Any]] = {}
    where: dict[str, Path] = {}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for path in paths:
        data = quick_check_coco(path)
        category_ids = _merge_categories(data, path, categories, where)
        image_ids: dict[int, int] = {}
        for image_id, image in zip(
            range(len(images) + 1, len(images) + len(data["images"]) + 1),
            _with_paths(path, data),
            strict=True,
        ):
            image_ids[image["id"]] = image_id
            images.append({**image, "id": image_id})
        for annotation in data["annotations"]:
            renumbered = {**annotation, "id": len(annotations) + 1}
            renumbered["image_id"] = image_ids[annotation["image_id"]]
            if "category_id" in annotation:
                renumbered["category_id"] = category_ids[annotation["category_id"]]
            annotations.append(renumbered)
    merged = {"images": images, "annotations": annotations, "categories": list(categories.values())}
    return merged, {"images": len(images), "annotations": len(annotations)}


def _with_paths(path: Path, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    folder = find_image_dir(path, data["images"])
    return [
        {**image, "path": str(resolve_image_path(image, folder.path).resolve())}
        for image in data["images"]
    ]


def _merge_categories(
    data: Mapping[str, Any],
    path: Path,
    categories: dict[str, dict[str, Any]],
    where: dict[str, Path],
) -> dict[int, int]:
    """This file's category id → the merged id, adding new names; refuses a conflict."""
    mapping: dict[Any, Any] = {}
    for category in data.get("categories", []):
        name = str(category["name"])
        supercategory = category.get("supercategory") or ""
        if name in categories:
            known = categories[name].get("supercategory") or ""
            if known != supercategory:
                raise DatasetError(
                    f"{path}: category {name!r} has supercategory {supercategory!r} but "
                    f"{known!r} in {where[name]}; rename one of them (or align the "
                    "supercategories) before merging"
                )
        else:
            categories[name] = {"id": len(categories) + 1, "name": name}
            if supercategory:
                categories[name]["supercategory"] = supercategory
            where[name] = path
        if category["id"] in mapping and mapping[category["id"]] != categories[name]["id"]:
            raise DatasetError(
                f"{path}: category id {category['id']} is used by two categories; give each "
                "category its own id before merging"
            )
        mapping[category["id"]] = categories[name]["id"]
    return mapping


def from_folders(root: Path, out: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Plan ``data from-folders``: one category per sub-folder of ``root``, one image-level
    (zero-area) annotation per image file found under it.

    Raises:
        InvalidInputError: ``root`` is not a folder, or holds no class folder with images.
    """
    from PIL import Image

    if not root.is_dir():
        raise InvalidInputError(
            f"{root}: not a folder; give a folder with one sub-folder per class"
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    out_dir = out.absolute().parent
    data: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    counts: dict[str, int] = {}
    for folder in folders:
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            continue
        category_id = len(data["categories"]) + 1
        data["categories"].append({"id": category_id, "name": folder.name})
        counts[folder.name] = len(files)
        for file in files:
            with Image.open(file) as image:  # reads the header only
                width, height = image.size
            image_id = len(data["images"]) + 1
            entry = {
                "id": image_id,
                "file_name": file.relative_to(root).as_posix(),
                "width": width,
                "height": height,
            }
            if out_dir != root.absolute():
                entry["path"] = str(file.absolute())
            data["images"].append(entry)
            data["annotations"].append(
                {
                    "id": image_id,
                    "image_id": image_id,
                    "category_id": category_id,
                    "bbox": [0, 0, 0, 0],
                    "area": 0,
                    "iscrowd": 0,
                }
            )
    if not counts:
        raise InvalidInputError(
            f"{root}: no sub-folder holds images ({', '.join(IMAGE_SUFFIXES)}); lay it out as "
            f"{root}/<class>/<image>"
        )
    return data, counts

"""COCO dialects: what common annotation tools write, and what abyssexp does about it.

- **Roboflow** (``_annotations.coco.json`` in each split folder, ``info.description`` "Exported from
  roboflow.com"): category 0 is a placeholder named like the project, with supercategory
  ``none``; the real categories have the project as their supercategory and category 0 has no
  annotation. It is dropped from automatic maps (``placeholder_categories``).
- **CVAT** (``annotations/instances_<subset>.json``; categories with an empty supercategory;
  annotations with ``attributes``): images in ``images/<subset>/`` or ``images/``.
- **Label Studio** (``info.contributor`` "Label Studio"; ``file_name``s with an ``images/`` or
  ``/data/upload/N/`` prefix; category ids from 0, no supercategory).

Detection only describes; the folder and prefix rules live in ``abyssexp.datasets.locate``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROBOFLOW = "Roboflow"
CVAT = "CVAT"
LABEL_STUDIO = "Label Studio"


@dataclass(frozen=True)
class Dialect:
    """Which tool a COCO file looks exported by (None: plain COCO), and the clues."""

    tool: str | None
    clues: list[str] = field(default_factory=list)

    def describe(self) -> str | None:
        if self.tool is None:
            return None
        return f"looks like a {self.tool} export ({', '.join(self.clues)})"


def _info(data: Mapping[str, Any]) -> Mapping[str, Any]:
    info = data.get("info")
    return info if isinstance(info, Mapping) else {}


def _roboflow_clues(data: Mapping[str, Any], path: Path) -> list[str]:
    clues = []
    if path.name == "_annotations.coco.json":
        clues.append("_annotations.coco.json")
    if "roboflow" in str(_info(data).get("description", "")).lower():
        clues.append("info.description names roboflow.com")
    if placeholder_categories(data):
        clues.append("a placeholder category 0")
    return clues


def _cvat_clues(data: Mapping[str, Any], path: Path) -> list[str]:
    clues = []
    if path.parent.name == "annotations" and path.name.startswith("instances_"):
        clues.append(f"annotations/{path.name}")
    annotations = data.get("annotations") or []
    if annotations and isinstance(annotations[0], Mapping) and "attributes" in annotations[0]:
        clues.append("annotation attributes")
    categories = data.get("categories") or []
    if categories and all(c.get("supercategory") == "" for c in categories):
        clues.append("empty supercategories")
    return clues


def _label_studio_clues(data: Mapping[str, Any]) -> list[str]:
    clues = []
    if "label studio" in str(_info(data).get("contributor", "")).lower():
        clues.append("info.contributor is Label Studio")
    images = data.get("images") or []
    names = [str(i.get("file_name", "")) for i in images[:20] if isinstance(i, Mapping)]
    if names and all(
        n.startswith(("images/", "/data/upload/", "/data/local-files/")) for n in names
    ):
        clues.append(f"file_name prefixes such as {names[0].rsplit('/', 1)[0]}/")
    return clues


def detect_dialect(data: Mapping[str, Any], path: Path) -> Dialect:
    """The tool whose clues are strongest (at least two clues, or a tell-tale file name)."""
    found = [
        (ROBOFLOW, _roboflow_clues(data, path)),
        (LABEL_STUDIO, _label_studio_clues(data)),
        (CVAT, _cvat_clues(data, path)),
    ]
    tool, clues = max(found, key=lambda item: len(item[1]))
    tell_tale = {"_annotations.coco.json", "info.contributor is Label Studio"}
    if (
        len(clues) >= 2
        or (clues and clues[0] in tell_tale)
        or any(c.startswith("annotations/instances_") for c in clues)
    ):
        return Dialect(tool, clues)
    return Dialect(None)


def placeholder_categories(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Roboflow's placeholder: a category no annotation uses whose name is the supercategory of
    the other categories (its own supercategory is ``none`` or empty)."""
    categories = [c for c in data.get("categories") or [] if isinstance(c, Mapping)]
    if len(categories) < 2:
        return []
    used = {a.get("category_id") for a in data.get("annotations") or [] if isinstance(a, Mapping)}
    supers = Counter(str(c.get("supercategory") or "") for c in categories)  # linear, not n²
    found = []
    for category in categories:
        if category.get("id") in used:
            continue
        name, own = str(category.get("name")), str(category.get("supercategory") or "")
        others_with_name = supers[name] - (own == name)
        if others_with_name == len(categories) - 1 and own.lower() in ("none", ""):
            found.append(category)
    return found


def placeholder_note(placeholders: list[Mapping[str, Any]], source: str) -> str | None:
    """The one line that says a placeholder was dropped from an automatic map."""
    if not placeholders:
        return None
    category = placeholders[0]
    return (
        f"{source}: dropped category {category['id']} {str(category['name'])!r} from the map: a "
        "Roboflow placeholder (no annotations; the supercategory of the other categories)"
    )

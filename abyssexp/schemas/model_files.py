"""The schemas of the small files training writes beside the checkpoints in ``models/``:
``class_names.json`` (the output layer's class names, in order), ``category_map.json`` (COCO
category → class index) and ``thresholds.json`` (per-class thresholds of a sigmoid model), and
their one reader each (``test``, ``predict`` and ``promote`` read them back; a promoted copy of
the folder holds the same files).
"""

from __future__ import annotations

from pathlib import Path
from typing import NotRequired

from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict

from abyssexp.errors import AbyssExpError, InvalidInputError
from abyssexp.jsonio import MAX_SMALL_JSON_BYTES
from abyssexp.schemas.files import read_file


@with_config(ConfigDict(extra="allow"))
class Thresholds(TypedDict):
    checkpoint: str
    thresholds: list[float]
    policy: NotRequired[str | None]
    class_names: NotRequired[list[str]]


CLASS_NAMES_ADAPTER: TypeAdapter[list[str]] = TypeAdapter(list[str])
CATEGORY_MAP_ADAPTER: TypeAdapter[dict[str, int]] = TypeAdapter(dict[str, int])
THRESHOLDS_ADAPTER: TypeAdapter[Thresholds] = TypeAdapter(Thresholds)
_FIX = "restore it beside the model"


def read_class_names(
    path: Path, error: type[AbyssExpError] = InvalidInputError
) -> list[str] | None:
    """``class_names.json``; None when there is none."""
    if not path.is_file():
        return None
    return read_file(path, CLASS_NAMES_ADAPTER, MAX_SMALL_JSON_BYTES, error, _FIX)


def read_category_map(
    path: Path, error: type[AbyssExpError] = InvalidInputError
) -> dict[str, int] | None:
    """``category_map.json``; None when there is none."""
    if not path.is_file():
        return None
    return read_file(path, CATEGORY_MAP_ADAPTER, MAX_SMALL_JSON_BYTES, error, _FIX)


def read_thresholds_file(path: Path) -> Thresholds | None:
    """``thresholds.json``; None when there is none.

    Raises:
        InvalidInputError: it does not read back (restore it, or delete it to use 0.5).
    """
    if not path.is_file():
        return None
    return read_file(
        path, THRESHOLDS_ADAPTER, MAX_SMALL_JSON_BYTES, InvalidInputError, "restore it or delete it"
    )

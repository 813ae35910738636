"""``list --changed`` and ``--filter``: compare experiments by their flattened params."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.registry import read_params_dict

SECTIONS = {"dataset", "model", "training", "augmentation", "callbacks", "reduce_lr_on_plateau"}


def flatten_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"training": {"lr": 1}}`` → ``{"training.lr": 1}``; free-form dicts stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key in SECTIONS:
            flat.update(flatten_params(value, name + "."))
        else:
            flat[name] = value
    return flat


def _flat_for(row: dict[str, Any]) -> dict[str, Any]:
    if "_flat" not in row:
        row["_flat"] = flatten_params(read_params_dict(Path(row["path"])))
    return row["_flat"]


def changed_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Params whose values differ between the rows; each row gains ``row["changed"]``."""
    flats = [_flat_for(row) for row in rows]
    keys = sorted({k for flat in flats for k in flat})
    differing = [
        key
        for key in keys
        if len({json.dumps(flat.get(key), sort_keys=True) for flat in flats}) > 1
        and key not in ("dataset.train", "dataset.val", "dataset.image_dir")
    ]
    for row, flat in zip(rows, flats, strict=True):
        row["changed"] = {key: flat.get(key) for key in differing}
        row.pop("_flat", None)
    return differing


def filter_rows(rows: list[dict[str, Any]], filters: list[str]) -> list[dict[str, Any]]:
    """Keep rows where every ``KEY=VALUE`` matches a param (dotted) or a record field."""
    from abyssexp.literals import parse_set_value

    wanted = []
    for item in filters:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(
                f"--filter {item!r}: expected KEY=VALUE, e.g. training.lr=0.001"
            )
        wanted.append((key.strip(), parse_set_value(raw), raw))
    kept = []
    for row in rows:
        flat = _flat_for(row)
        ok = True
        for key, value, raw in wanted:
            actual = row[key] if key in row and key not in ("_flat",) else flat.get(key)
            if not (actual == value or str(actual) == raw):
                ok = False
                break
        row.pop("_flat", None)
        if ok:
            kept.append(row)
    for row in rows:
        row.setdefault("changed", {})
    return kept

"""``changed_columns``: one pass over the rows, the same answer as comparing JSON texts."""

from __future__ import annotations

import json
import math
from pathlib import Path

from abyssexp.experiment.listing import changed_columns


def _rows(tmp_path: Path, params: list[dict]) -> list[dict]:
    rows = []
    for index, data in enumerate(params):
        folder = tmp_path / f"{index:03d}.x"
        (folder / "models").mkdir(parents=True)
        (folder / "models" / "params.json").write_text(json.dumps(data))
        rows.append({"path": str(folder)})
    return rows


def _by_json_text(params: list[dict]) -> list[str]:
    """The definition: keys whose JSON texts differ (a missing key is null)."""
    keys = sorted({k for p in params for k in p})
    return [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in params}) > 1]


def test_changed_columns_match_json_text_comparison(tmp_path: Path) -> None:
    params = [
        {"a": 1, "b": 1.0, "c": True, "d": [1, 2], "e": None, "f": math.nan, "g": {"x": 1}},
        {"a": 1.0, "b": 1.0, "c": 1, "d": [1, 2.0], "f": math.nan, "g": {"x": 1}},
        {"a": 1, "b": 1.0, "c": True, "d": [1, 2], "e": None, "f": math.nan, "g": {"x": 1}},
        {"a": 1, "b": 1.0, "c": True, "d": [1, 2], "e": None, "f": math.nan, "h": "new"},
    ]
    rows = _rows(tmp_path, params)
    assert changed_columns(rows) == _by_json_text(params) == ["a", "c", "d", "g", "h"]
    for row, data in zip(rows, params, strict=True):
        assert json.dumps(row["changed"]) == json.dumps({k: data.get(k) for k in row["changed"]})
        assert "_flat" not in row


def test_changed_columns_of_identical_rows_is_empty(tmp_path: Path) -> None:
    rows = _rows(tmp_path, [{"training": {"lr": 0.1}}] * 3)
    assert changed_columns(rows) == []
    assert all(row["changed"] == {} for row in rows)

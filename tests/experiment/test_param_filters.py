"""``changed_columns``: one pass over the rows, the same answer as comparing JSON texts."""

from __future__ import annotations

import json
import math
from pathlib import Path

from abyssexp.experiment.param_filters import changed_columns


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


def test_compare_reads_each_record_once(runner, scratch: Path, monkeypatch) -> None:
    """Each record is read (and validated) once per compare, not once per row and per column."""
    import abyssexp.experiment.index as index
    import abyssexp.experiment.list_rows as registry
    import abyssexp.experiment.record_file as record
    import abyssexp.results.compare as compare
    from abyssexp.cli import app

    for lr in ("0.1", "0.2", "0.3"):
        made = runner.invoke(app, ["new", "p", "t", "d", "--set", f"training.lr={lr}"])
        assert made.exit_code == 0, made.output
    reads: list[str] = []
    real = record.load_record

    def counted(path: Path):
        reads.append(str(path))
        return real(path)

    for module in (record, registry, compare, index):
        monkeypatch.setattr(module, "load_record", counted, raising=False)
    data = compare.compare_experiments(scratch, ["p/t/*"])
    assert len(data["experiments"]) == 3
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 3
    assert list(data["params"]) == ["training.lr"]

"""A param value read from a file never drives the terminal: control characters are shown as
``?`` in every table and line (issue 31 case 16: raw ESC reached the terminal in show/compare)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abyssexp.cli import app

PLANTED = "bg\x1b]0;pwned\x07\x1b[31mRED"


@pytest.mark.parametrize("columns", ["200", "60"])
@pytest.mark.parametrize(
    "command",
    [["show", "p/t/1"], ["compare", "p/t/1", "p/t/2"], ["compare", "p/t/1", "p/t/2", "--wide"]],
    ids=lambda c: " ".join(c),
)
def test_planted_escape_is_shown_as_question_marks(
    runner, scratch: Path, shapes, monkeypatch, command, columns
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    for name in ("a", "b"):
        made = runner.invoke(app, ["new", "p", "t", name, "--train", str(shapes["train"])])
        assert made.exit_code == 0, made.output
    params = next((scratch / "p" / "t").glob("001.*")) / "models" / "params.json"
    data = json.loads(params.read_text())
    data["dataset"]["background_name"] = PLANTED
    params.write_text(json.dumps(data))
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "bg?]0;pwned??[31mRED" in result.output.replace("\n", "").replace(" ", "")

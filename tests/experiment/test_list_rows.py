"""``list`` takes the REF form every other command takes (issue 30: ``list egg/fertility``
answered "no experiments")."""

from __future__ import annotations

import json
from pathlib import Path

from abyssexp.cli import app


def _make(runner, shapes, project: str, kind: str, name: str) -> None:
    made = runner.invoke(app, ["new", project, kind, name, "--train", str(shapes["train"])])
    assert made.exit_code == 0, made.output


def test_list_takes_project_slash_type(runner, scratch: Path, shapes) -> None:
    _make(runner, shapes, "egg", "fertility", "a")
    _make(runner, shapes, "egg", "fertility", "b")
    _make(runner, shapes, "egg", "size", "c")
    both = json.loads(runner.invoke(app, ["list", "egg/fertility", "--json"]).stdout)
    assert sorted(row["name"] for row in both) == ["001.a", "002.b"]
    one = json.loads(runner.invoke(app, ["list", "egg/fertility/2", "--json"]).stdout)
    assert [row["name"] for row in one] == ["002.b"]
    named = json.loads(runner.invoke(app, ["list", "egg/size/001.c", "--json"]).stdout)
    assert [row["name"] for row in named] == ["001.c"]
    refused = runner.invoke(app, ["list", "egg/fertility", "size"])
    assert refused.exit_code == 2 and "PROJECT/TYPE[/NNN]" in refused.output

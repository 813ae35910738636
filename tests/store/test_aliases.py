"""Aliases move with promotions and `alias set|rm`; every move is kept, in order, with who and how."""

from __future__ import annotations

import json
from pathlib import Path

from abyssexp.cli import app
from tests.store.conftest import one_line_error


def test_alias_moves_are_kept_in_an_append_only_history(runner, scratch: Path, tested) -> None:
    first, second = tested("first"), tested("second")
    for root in (first, second):
        result = runner.invoke(app, ["promote", str(root), "--alias", "production"])
        assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["alias", "set", "proj/cls", "production", first.name]).exit_code == 0
    assert runner.invoke(app, ["alias", "set", "proj/cls", "candidate", second.name]).exit_code == 0
    assert runner.invoke(app, ["alias", "rm", "proj/cls", "candidate"]).exit_code == 0

    listed = json.loads(runner.invoke(app, ["promoted", "--json"]).stdout)
    aliases = {row["name"]: row["aliases"] for row in listed}
    assert aliases == {first.name: ["production"], second.name: []}

    history = runner.invoke(app, ["promoted", "--history", "proj/cls@production", "--json"])
    moves = [(m["from"], m["to"], m["via"]) for m in json.loads(history.stdout)]
    assert moves == [
        (None, first.name, "promote"),
        (first.name, second.name, "promote"),
        (second.name, first.name, "alias set"),
    ]
    candidate = json.loads(
        runner.invoke(app, ["promoted", "--history", "candidate", "--json"]).stdout
    )
    assert [(m["from"], m["to"]) for m in candidate] == [(None, second.name), (second.name, None)]
    assert all(m["user"] and m["host"] and m["time"] for m in candidate)
    table = runner.invoke(app, ["promoted", "--history", "production"], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "proj/cls@production" in table.output


def test_alias_commands_refuse_unknown_models_and_aliases(runner, scratch: Path, tested) -> None:
    root = tested("only")
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    unknown = runner.invoke(app, ["alias", "set", "proj/cls", "production", "999.nothing"])
    assert unknown.exit_code == 2 and root.name in one_line_error(unknown.output)
    missing = runner.invoke(app, ["alias", "rm", "proj/cls", "production"])
    assert missing.exit_code == 2 and "no alias" in one_line_error(missing.output)
    bad_name = runner.invoke(app, ["alias", "set", "proj/cls", "../x", root.name])
    assert bad_name.exit_code == 2

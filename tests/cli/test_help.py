"""``--help`` grouped by the lifecycle, and option names whole at 80 columns."""

from __future__ import annotations

import re

import pytest
import typer

from abyssexp.cli import app

PANEL_ORDER = ("Start", "Run", "Judge", "Keep", "Organise", "Setup")

NARROW = {"COLUMNS": "80"}


def _commands(group, prefix=()):
    """Every (path, click command) of the CLI, groups included."""
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


def test_top_level_help_is_grouped_by_the_lifecycle(runner) -> None:
    result = runner.invoke(app, ["--help"], env=NARROW)
    assert result.exit_code == 0, result.output
    text = result.stdout
    lines = text.splitlines()
    titles = [lines.index(f"{panel}:") for panel in PANEL_ORDER]
    assert titles == sorted(titles), text  # Start, Run, Judge, Keep, Organise, Setup
    first = {
        name: next(i for i, line in enumerate(lines) if line.startswith(f"  {name} "))
        for name in ("new", "train", "test", "tag", "promote")
    }
    assert first["new"] < first["train"] < first["test"] < first["promote"] < first["tag"]
    assert titles[0] < first["new"] < titles[1] < first["train"] < titles[2] < first["test"]
    assert "More:" not in lines, "a command has no line in abyssexp.cli.help.PANELS"
    assert all(len(line) <= 80 for line in lines), text


def test_every_command_has_a_panel() -> None:
    from abyssexp.cli.help import PANELS

    root = typer.main.get_command(app)
    missing = sorted(set(root.commands) - set(PANELS))
    assert not missing, f"add these commands to abyssexp.cli.help.PANELS: {missing}"


@pytest.mark.slow
def test_option_names_are_never_cut_at_80_columns(runner) -> None:
    root = typer.main.get_command(app)
    for path, command in _commands(root):
        result = runner.invoke(app, [*path, "--help"], env=NARROW)
        assert result.exit_code == 0, (path, result.output)
        assert "…" not in result.stdout, f"{' '.join(path)} --help:\n{result.stdout}"
        lines = result.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), result.stdout
        for param in command.params:
            for name in (*param.opts, *param.secondary_opts):
                if name.startswith("--"):
                    whole = re.compile(rf"(^|[\s,]){re.escape(name)}($|[\s,])")
                    assert any(whole.search(line) for line in lines), (
                        f"{' '.join(path)} --help: {name} not whole:\n{result.stdout}"
                    )

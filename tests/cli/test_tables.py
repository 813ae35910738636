"""One rendering policy for every table (``docs/output.md``): each table-producing command at
60, 80 and 120 columns and in a pipe keeps names whole, cuts nothing mid-word, and says which
columns it hid."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import module_scratch, new_tiny

NAME = "synthetic-shapes-dataset-mobilenetv3small-from-scratch-longer"
BOX = "│┃┏┓┗┛━─┌┐└┘┬┴┼├┤┡┩╇┳┻╭╮╰╯"
HINT = re.compile(r"^\d+ columns? hidden \(.*\): --wide / --csv / --json$")


def _tokens(text: str) -> set[str]:
    """Words of ``text`` (box drawing and a trailing ``:`` of pairs set aside)."""
    return {t.rstrip(":,") for t in re.split(rf"[\s{BOX}]+", text) if t.strip(BOX)}


@pytest.fixture(scope="module")
def built_scene(tmp_path_factory, shapes) -> tuple[Path, dict[str, str]]:
    """Long names, a tag, a note, a parent and a sweep: what the tables have to fit. Built
    once for the module: every test only reads it."""
    from typer.testing import CliRunner

    runner = CliRunner()
    with module_scratch(tmp_path_factory, "tables") as root:
        first = new_tiny(runner, shapes, "--note", "a first try", name=NAME)
        assert runner.invoke(app, ["tag", str(first), "baseline"]).exit_code == 0
        new_tiny(runner, shapes, "--from", str(first), "--set", "training.lr=0.001", name=NAME)
        swept = runner.invoke(
            app,
            [
                *("sweep", "new", "proj", "train", "swept", "--from", str(first)),
                *("--grid", "training.lr=1e-3,5e-4"),
            ],
        )
        assert swept.exit_code == 0, swept.output
    return root, {"first": str(first), "sweep": swept.stdout.strip().splitlines()[-1]}


@pytest.fixture
def scene(built_scene, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The module's scene, as the scratch root of this test."""
    root, names = built_scene
    monkeypatch.setenv("ABYSSEXP_SCRATCH", str(root))
    return names


COMMANDS = [
    ["list"],
    ["list", "--changed"],
    ["list", "--sweep", "{sweep}"],
    ["show", "{first}"],
    ["compare", "proj/train/*"],
    ["sweep", "list"],
    ["config"],
    ["data", "stats", "{train}", "{val}"],
    ["data", "check", "{train}", "--val", "{val}"],
]


def _pipe(args: list[str], scratch: Path) -> str:
    """The command in a pipe, as ``abyssexp ... | cat`` runs it: no terminal, no COLUMNS."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-m", "abyssexp", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_table_at_60_80_120_and_in_a_pipe(runner, scene, scratch, shapes, command) -> None:
    values = {**scene, "train": str(shapes["train"]), "val": str(shapes["val"])}
    args = [part.format(**values) for part in command]
    piped = _pipe(args, scratch)
    whole = _tokens(piped)
    names = [re.search(r"proj/train/\S+?(?=[\s│]|$)", n) for n in piped.splitlines()]
    names = {m.group(0) for m in names if m}
    if args[0] in ("list", "compare"):
        assert names, piped
    assert "…" not in piped
    for width in (60, 80, 120):
        result = runner.invoke(app, args, env={"COLUMNS": str(width)})
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert "…" not in text, f"cut at {width}:\n{text}"
        for name in names:
            assert any(name in line for line in text.splitlines()), f"{name} at {width}:\n{text}"
        hints = [line for line in text.splitlines() if HINT.match(line)]
        rest = "\n".join(line for line in text.splitlines() if not HINT.match(line))
        cut = _tokens(rest) - whole
        assert not cut, f"words cut or changed at {width}: {sorted(cut)}\n{text}"
        for line in text.splitlines():
            if len(line) > width:  # only a unit that cannot be broken: a name, a path, a pair
                unit = re.fullmatch(r"(\[\d+\] )?\S+", line.strip())
                assert unit or ": " in line or line in hints, (width, line)
        if width == 60 and args[0] == "list":
            assert hints, text


def test_list_at_80_columns_keeps_what_people_read(runner, scene) -> None:
    result = runner.invoke(app, ["list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    for header in ("status", "epochs", "best", "tests", "promoted", "tags"):
        assert re.search(rf"\b{header}\b", result.stdout), result.stdout
    assert "baseline" in result.stdout
    assert re.search(r"^\d+ columns? hidden \(", result.stdout, re.MULTILINE), result.stdout


def test_list_sweep_at_80_columns_shows_the_param_that_varies(runner, scene) -> None:
    result = runner.invoke(app, ["list", "--sweep", scene["sweep"]], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "training.lr" in result.stdout, result.stdout
    assert "0.001" in result.stdout and "0.0005" in result.stdout, result.stdout


def test_show_at_80_columns_in_a_pipe_keeps_paths_and_reads_as_text(runner, scene) -> None:
    result = runner.invoke(app, ["show", scene["first"]], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == scene["first"]  # the path whole, first
    assert not re.search(r'\{"\w+": ', "\n".join(line for line in lines if "record" in line))
    assert all(len(line) <= 80 or " " not in line.strip() for line in lines[:12]), lines


@pytest.mark.slow
def test_list_at_80_columns_with_results(runner, trained_pair, tmp_path) -> None:
    env = {"COLUMNS": "80", "ABYSSEXP_SCRATCH": str(trained_pair.scratch)}
    result = runner.invoke(app, ["list"], env=env)
    assert result.exit_code == 0, result.output
    assert "shapes-test:" in result.stdout and "baseline" in result.stdout, result.stdout
    assert re.search(r"\d\.\d+@\d", result.stdout), result.stdout  # the best value and epoch
    shown = runner.invoke(app, ["show", str(trained_pair.first)], env=env)
    assert "val_loss" in shown.stdout and "at epoch" in shown.stdout, shown.stdout
    assert '{"metric"' not in shown.stdout

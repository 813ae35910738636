"""At 80 columns (and in a pipe) every command keeps experiment names and paths whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.cli import app

NARROW = {"COLUMNS": "80"}


def _whole(text: str, output: str) -> bool:
    """``text`` appears unbroken on one line of ``output``."""
    return any(text in line for line in output.splitlines())


@pytest.fixture
def long_names(runner, scratch: Path) -> list[str]:
    refs = []
    for infos in (
        ["lr2e-3"],
        ["lr5e-4", "mobilenetv3small-from-scratch", "with-a-much-longer-name"],
    ):
        result = runner.invoke(
            app, ["new", "shapes", "classification", "synthetic-shapes-dataset", *infos]
        )
        assert result.exit_code == 0, result.output
        path = Path(result.stdout.strip().splitlines()[-1])
        assert _whole(str(path), result.stdout)
        refs.append(f"shapes/classification/{path.name}")
    return refs


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--changed"],
        ["list", "--wide"],
        ["compare", "shapes/classification/*"],
        ["show", "shapes/classification/2"],
    ],
    ids=" ".join,
)
def test_names_stay_whole_at_80_columns(runner, long_names, args) -> None:
    runner.invoke(app, ["tag", "shapes/classification/1", "baseline"])
    result = runner.invoke(app, args, env=NARROW)
    assert result.exit_code == 0, result.output
    for ref in long_names if args[0] != "show" else long_names[1:]:
        name = ref if args[0] != "show" else ref.rsplit("/", 1)[1]
        assert _whole(name, result.stdout), f"{name} broken in:\n{result.stdout}"
    if args == ["list", "--wide"]:
        assert "baseline" in result.stdout and "created" in result.stdout


def test_list_drops_columns_before_it_cuts_a_name(runner, scratch) -> None:
    result = runner.invoke(app, ["new", "p", "t", "d", "lr2e-3"])
    assert result.exit_code == 0
    narrow = runner.invoke(app, ["list"], env={"COLUMNS": "60"})
    assert _whole("p/t/001.d.lr2e-3", narrow.stdout) and "status" in narrow.stdout
    # The name gets its own line before a column people read (promoted, tags) is dropped;
    # what is dropped is named, with where to find it.
    assert "promoted" in narrow.stdout and "tags" in narrow.stdout
    assert "columns hidden (created, disk, note): --wide / --csv / --json" in narrow.stdout
    wide = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert "promoted" in wide.stdout and "created" in wide.stdout


def test_list_in_a_pipe_prints_names_whole(long_names, scratch) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run(
        [sys.executable, "-m", "abyssexp", "list"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    for ref in long_names:
        assert _whole(ref, result.stdout), result.stdout
    assert "━" not in result.stderr


@pytest.mark.slow
def test_train_test_promoted_at_80_columns(runner, trained_pair, tmp_path) -> None:
    first, second = trained_pair.first, trained_pair.second
    for root in (first, second):
        trained = trained_pair.outputs[("train", root)]
        assert _whole(str(root), trained.stdout), trained.stdout
        # Not a terminal: one plain line per epoch, no live bars.
        assert _whole("epoch 1/2", trained.stderr) and _whole("epoch 2/2", trained.stderr)
        assert "━" not in trained.output
        tested = trained_pair.outputs[("test", root)]
        assert _whole(str(root / "testing" / "shapes-test"), tested.stdout), tested.stdout
    store = tmp_path / "store"
    common = ["--scratch", str(trained_pair.scratch), "--store", str(store)]
    accept = ["--accept", "constant_predictions,small_test_set"]  # a tiny model on a small test set
    promoted = runner.invoke(app, ["promote", str(second), *common, *accept], env=NARROW)
    assert promoted.exit_code == 0, promoted.output
    assert _whole(str(store / "proj" / "train" / second.name), promoted.stdout), promoted.stdout
    listed = runner.invoke(app, ["promoted", "--store", str(store)], env=NARROW)
    assert listed.exit_code == 0, listed.output
    assert _whole(f"proj/train/{second.name}", listed.stdout), listed.stdout
    rows = json.loads(runner.invoke(app, ["promoted", "--store", str(store), "--json"]).stdout)
    assert [row["name"] for row in rows] == [second.name]


def test_version_and_completion(runner) -> None:
    from abyssexp import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"abyssexp {__version__}"
    helped = runner.invoke(app, ["--help"], env=NARROW)
    assert "--install-completion" in helped.stdout and "--verbose" in helped.stdout

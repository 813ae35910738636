"""``sweep new --search optuna``: a study beside the sweep, each trial asked for when its slot
starts and made an ordinary numbered experiment; finished trials tell their best metric, a
killed one is told ``fail``, a pruned one ends ``pruned``; the options are checked first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import history, new_tiny, record

optuna = pytest.importorskip("optuna")

LIGHT = [
    "--set", "callbacks.pr_curves=false", "--set", "callbacks.tfpn=false",
    "--set", "callbacks.log_images=0",
]  # fmt: skip
SPACE = [
    "--space", "training.lr=loguniform(1e-4,1e-2)",
    "--space", "model.dropout=uniform(0,0.5)",
    "--space", "model.backbone=choice(tinycnn)",
]  # fmt: skip


def _study(scratch: Path, sweep_id: str = "s001") -> object:
    journal = scratch / "proj" / "hpo" / ".sweeps" / f"{sweep_id}.optuna.journal"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    return optuna.load_study(study_name=f"proj/hpo/{sweep_id}", storage=storage)


def _new_study(runner, base: Path, *extra: str) -> tuple[str, dict]:
    result = runner.invoke(
        app,
        ["sweep", "new", "proj", "hpo", "tiny", "--from", str(base), "--search", "optuna",
         "--metric", "val_macro_f1", "--direction", "maximize", *SPACE, *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ref = result.stdout.strip().splitlines()[-1]
    sweep_path = base.parent.parent / "hpo" / ".sweeps" / f"{ref.rsplit('/', 1)[-1]}.json"
    return ref, json.loads(sweep_path.read_text())


def _sweep_file(scratch: Path) -> dict:
    return json.loads((scratch / "proj" / "hpo" / ".sweeps" / "s001.json").read_text())


@pytest.mark.slow
def test_a_four_trial_study_runs_locally_as_ordinary_experiments(
    runner, scratch: Path, shapes
) -> None:
    base = new_tiny(runner, shapes, "--set", "training.epochs=2", *LIGHT, name="base")
    ref, sweep = _new_study(runner, base, "--trials", "4")
    assert ref == "proj/hpo/s001" and sweep["trials"] == []  # nothing made before a slot starts
    assert sweep["optuna"]["space"]["model.dropout"] == "uniform(0,0.5)"
    assert not list((scratch / "proj" / "hpo").glob("0*"))
    result = runner.invoke(app, ["sweep", "run", ref, "--parallel", "2"])
    assert result.exit_code == 0, result.output
    sweep = _sweep_file(scratch)
    assert [t["index"] for t in sweep["trials"]] == [0, 1, 2, 3]
    study = _study(scratch)
    assert len(study.trials) == 4
    for trial in sweep["trials"]:
        root = scratch / "proj" / "hpo" / trial["name"]
        params = json.loads((root / "models" / "params.json").read_text())
        assert record(root)["status"] == "completed" and record(root)["sweep"] == ref
        told = study.trials[trial["optuna_trial"]]
        assert told.state.name == "COMPLETE"
        # the study's history equals the experiments: the params each got and the value told
        assert told.params == trial["values"]
        assert params["training"]["lr"] == told.params["training.lr"]
        assert params["model"]["dropout"] == told.params["model.dropout"]
        assert told.value == max(float(row["val_macro_f1"]) for row in history(root))
    # the study ends with its best trial, its value, and whether it beats the runner-up
    lines = result.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("best trial: 0"))
    value = lines[first + 1].split()
    assert value[0] == "val_macro_f1" and float(value[1]) == pytest.approx(study.best_value, 1e-3)
    assert lines[first + 1].endswith("n=1 (one trial: no spread)")  # never [x–x]
    assert lines[first + 2].startswith("runner-up: 0")
    assert "cannot tell them apart: one trial each" in lines[first + 3]
    assert all(len(line) <= 80 for line in lines[first:]), lines[first:]
    listed = runner.invoke(app, ["list", "--sweep", ref, "--json"])
    assert len(json.loads(listed.stdout)) == 4
    again = runner.invoke(app, ["sweep", "run", ref])
    assert again.exit_code == 0 and "nothing to run" in again.output


def _wait(check, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _running_pid(scratch: Path) -> int | None:
    try:
        trials = _sweep_file(scratch)["trials"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not trials:
        return None
    found = record(scratch / "proj" / "hpo" / trials[0]["name"])
    return found.get("pid") if found.get("status") == "running" else None


@pytest.mark.slow
def test_a_killed_trial_is_told_failed_and_the_study_goes_on(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, "--set", "training.epochs=3", *LIGHT, name="base")
    ref, _ = _new_study(runner, base, "--trials", "2")
    slot = subprocess.Popen(
        [sys.executable, "-m", "abyssexp", "sweep", "slot", ref, "0"],
        env={**os.environ, "ABYSSEXP_SCRATCH": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.kill(_wait(lambda: _running_pid(scratch)), signal.SIGKILL)  # the training, not the slot
    output = slot.communicate(timeout=120)[0].decode()
    assert slot.returncode == 0, output
    assert _study(scratch).trials[0].state.name == "FAIL"
    result = runner.invoke(app, ["sweep", "run", ref])  # the study goes on with slot 1
    assert result.exit_code == 0, result.output
    study = _study(scratch)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    trials = _sweep_file(scratch)["trials"]
    assert [t["optuna_trial"] for t in trials] == [0, 1]
    statuses = [record(scratch / "proj" / "hpo" / t["name"])["status"] for t in trials]
    assert statuses == ["running", "completed"]  # the killed one shows as crashed in list
    listed = json.loads(runner.invoke(app, ["list", "--sweep", ref, "--json"]).stdout)
    assert sorted(row["status"] for row in listed) == ["completed", "crashed"]


def test_optuna_options_are_checked_before_anything_is_written(
    runner, scratch: Path, shapes
) -> None:
    base = new_tiny(runner, shapes, name="base")

    def new(*args: str):
        return runner.invoke(
            app, ["sweep", "new", "proj", "hpo", "tiny", "--from", str(base), *args]
        )

    cases = [
        (["--search", "optuna", "--trials", "2"], "needs --space"),
        (["--search", "optuna", *SPACE], "needs --trials"),
        (["--search", "optuna", "--trials", "2", "--space", "training.lr=loguniform(0,1)"],
         "LOW > 0"),
        (["--search", "optuna", "--trials", "2", "--space", "model.dropout=uniform(0.5,0.1)"],
         "LOW < HIGH"),
        (["--search", "optuna", "--trials", "2", "--space", "model.nope=uniform(0,1)"],
         "model.nope"),
        (["--search", "optuna", "--trials", "2", "--space", "model.dropout=uniform(0,7)"],
         "model.dropout"),
        (["--search", "optuna", "--trials", "2", "--space", "training.lr=__import__('os')"],
         "expected one of"),
        (["--search", "optuna", "--trials", "2", *SPACE, "--metric", "val_nothing"],
         "--metric val_nothing"),
        (["--search", "optuna", "--trials", "2", *SPACE, "--pruner", "hyperband"], "--pruner"),
        (["--search", "optuna", "--trials", "2", *SPACE, "--grid", "training.lr=1,2"], "--grid"),
        (["--space", "training.lr=loguniform(1e-4,1e-2)", "--grid", "training.lr=1,2"],
         "only with --search optuna"),
    ]  # fmt: skip
    for args, message in cases:
        result = new(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not list((scratch / "proj" / "hpo" / ".sweeps").glob("s*"))


def _cli(scratch: Path, prelude: str, *args: str) -> subprocess.CompletedProcess:
    """``abyssexp ARGS`` in a fresh Python that first runs ``prelude``; then checks what it
    imported."""
    code = (
        f"import sys\n{prelude}\n"
        "from abyssexp.cli.app import main\n"
        f"sys.argv = ['abyssexp', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
        "print('imported optuna:', sys.modules.get('optuna') is not None, file=sys.stderr)\n"
        "print('imported tensorflow:', 'tensorflow' in sys.modules, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(scratch)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_without_optuna_the_search_says_how_to_install_it(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, name="base")
    hidden = "sys.modules['optuna'] = None  # as if Optuna were not installed"
    new = ["sweep", "new", "proj", "hpo", "tiny", "--from", str(base)]
    done = _cli(scratch, hidden, *new, "--search", "optuna", "--trials", "2", *SPACE)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("imported")]
    assert len(lines) == 1 and "pip install 'abyssexp[optuna]'" in lines[0], done.stderr
    assert not list((scratch / "proj" / "hpo").glob(".sweeps/s*"))
    grid = _cli(scratch, "", *new, "--grid", "training.lr=1e-3,2e-3")
    assert grid.returncode == 0, grid.stderr
    assert "imported optuna: False" in grid.stderr and "imported tensorflow: False" in grid.stderr


@pytest.mark.slow
def test_list_and_show_of_sweeps_never_import_optuna(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, name="base")
    new = ["sweep", "new", "proj", "hpo", "tiny", "--from", str(base), "--search", "optuna"]
    made = _cli(scratch, "", *new, "--trials", "3", *SPACE)
    assert made.returncode == 0, made.stderr
    assert "imported tensorflow: False" in made.stderr  # the study is made without TensorFlow
    ref = made.stdout.strip().splitlines()[-1]
    for args in (["sweep", "list", "--json"], ["list", "--sweep", ref], ["sweep", "list"]):
        done = _cli(scratch, "", *args)
        assert done.returncode == 0, done.stderr
        assert "imported optuna: False" in done.stderr, args
        assert "imported tensorflow: False" in done.stderr, args
    listed = _cli(scratch, "", "sweep", "list", "--json")
    assert '"optuna"' in listed.stdout and '"trials": 3' in listed.stdout


@pytest.mark.slow
def test_the_median_pruner_ends_a_poor_trial_as_pruned(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, "--set", "training.epochs=3", *LIGHT, name="base")
    ref, _ = _new_study(runner, base, "--trials", "1", "--pruner", "median")
    study = _study(scratch)
    for _ in range(2):  # two finished trials that scored 1.0 at every epoch: the median to beat
        study.add_trial(
            optuna.trial.create_trial(value=1.0, intermediate_values={1: 1.0, 2: 1.0, 3: 1.0})
        )
    result = runner.invoke(app, ["sweep", "run", ref])
    assert result.exit_code == 0, result.output
    assert "pruned" in result.output
    (trial,) = _sweep_file(scratch)["trials"]
    root = scratch / "proj" / "hpo" / trial["name"]
    found = record(root)
    assert found["status"] == "pruned", found
    assert found["error"].startswith("pruned by the median pruner after epoch 1: val_macro_f1=")
    assert len(history(root)) == 1  # stopped after the epoch it was pruned at
    told = _study(scratch).trials[trial["optuna_trial"]]
    assert told.state.name == "PRUNED" and told.intermediate_values.keys() == {1}
    listed = json.loads(runner.invoke(app, ["list", "--sweep", ref, "--json"]).stdout)
    assert [row["status"] for row in listed] == ["pruned"]


def test_a_study_path_in_the_sweep_file_cannot_leave_its_folder(
    runner, scratch: Path, shapes
) -> None:
    base = new_tiny(runner, shapes, name="base")
    ref, _ = _new_study(runner, base, "--trials", "2")
    path = scratch / "proj" / "hpo" / ".sweeps" / "s001.json"
    sweep = json.loads(path.read_text())
    sweep["optuna"]["study"] = "../../../elsewhere.journal"
    path.write_text(json.dumps(sweep))
    result = runner.invoke(app, ["sweep", "run", ref])
    assert result.exit_code == 2, result.output
    assert "is not a study file name" in result.output
    assert not list((scratch / "proj" / "hpo").glob("0*"))


def test_a_studys_default_direction_follows_the_one_rule(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, name="base")
    new = ["sweep", "new", "proj", "hpo", "tiny", "--from", str(base), "--search", "optuna"]
    for metric, expected in (("val_loss", "minimize"), ("val_macro_f1", "maximize")):
        made = runner.invoke(app, [*new, "--trials", "2", *SPACE, "--metric", metric])
        assert made.exit_code == 0, made.output
        ref = made.stdout.strip().splitlines()[-1]
        sweep = json.loads((scratch / f"{ref}.json".replace("/s0", "/.sweeps/s0")).read_text())
        assert sweep["optuna"]["direction"] == expected, metric
        assert _study(scratch, ref.rsplit("/", 1)[-1]).direction.name == expected.upper()
        assert f"{expected} {metric}" in made.output
    from abyssexp.metric_direction import direction

    assert direction("val_error") == "minimize"  # maximised before issue 29


def test_a_planted_direction_in_the_sweep_file_is_refused(runner, scratch: Path, shapes) -> None:
    base = new_tiny(runner, shapes, name="base")
    ref, _ = _new_study(runner, base, "--trials", "2")
    path = scratch / "proj" / "hpo" / ".sweeps" / "s001.json"
    sweep = json.loads(path.read_text())
    sweep["optuna"]["direction"] = "sideways"
    path.write_text(json.dumps(sweep))
    for args in (["sweep", "run", ref], ["sweep", "slot", ref, "0"], ["compare", "--sweep", ref]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "field optuna.direction" in result.output and "'sideways'" in result.output
        assert "Traceback" not in result.output
    assert not list((scratch / "proj" / "hpo").glob("0*"))

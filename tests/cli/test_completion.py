"""Completion of the names people type: experiment references, ``@aliases``, sweep ids, test
conditions and ``--set`` keys, through Typer's completion environment variables for bash and
zsh, fast with 5,000 experiments and without TensorFlow."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abyssexp.cli import app


def _bash(runner, line: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash gets for ``line`` (the word being completed is the last, maybe empty)."""
    words = line.split(" ")
    result = runner.invoke(
        app,
        [],
        prog_name="abyssexp",
        env={
            "_ABYSSEXP_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
            **(env or {}),
        },
    )
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def _zsh(runner, line: str) -> str:
    result = runner.invoke(
        app,
        [],
        prog_name="abyssexp",
        env={"_ABYSSEXP_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": line},
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def made(runner, scratch: Path, shapes) -> dict[str, str]:
    from tests.training.helpers import new_tiny

    first = new_tiny(runner, shapes, name="shapes")
    swept = runner.invoke(
        app,
        [
            *("sweep", "new", "proj", "grid", "tiny", "--from", str(first)),
            *("--grid", "training.lr=1e-3,5e-4"),
        ],
    )
    assert swept.exit_code == 0, swept.output
    return {"first": first.name, "sweep": swept.stdout.strip().splitlines()[-1]}


def test_experiment_references_complete_level_by_level(runner, made) -> None:
    assert _bash(runner, "abyssexp show pr") == ["proj/grid/", "proj/train/"]
    assert _bash(runner, "abyssexp show proj/train/") == [f"proj/train/{made['first']}"]
    assert _bash(runner, "abyssexp show proj/train/1") == [f"proj/train/{made['first']}"]
    assert _bash(runner, "abyssexp train proj/grid/00")[:2] == [
        "proj/grid/001.tiny.lr1e-3",
        "proj/grid/002.tiny.lr5e-4",
    ]
    # zsh shows each experiment's status beside it
    assert f'"proj/train/{made["first"]}":"new"' in _zsh(runner, "abyssexp show proj/train/")


def test_sweep_ids_and_set_keys_with_current_values(runner, made) -> None:
    assert _bash(runner, "abyssexp list --sweep ") == [made["sweep"]]
    assert made["sweep"] in _bash(runner, "abyssexp cancel proj/grid/s")
    keys = _bash(runner, "abyssexp new p t d --set training.l")
    assert "training.lr=" in keys and "training.loss=" in keys
    # the value of the experiment on the line (TINY sets lr 0.002), the default without one
    ref = f"proj/train/{made['first']}"
    assert '"training.lr=":"now 0.002"' in _zsh(runner, f"abyssexp train {ref} --set training.lr")
    assert '"training.lr=":"default ' in _zsh(runner, "abyssexp new p t d --set training.lr")
    assert _bash(runner, f"abyssexp train {ref} --set training.lr=") == ["training.lr=0.002"]


def test_aliases_complete_from_the_store(runner, made, scratch, tmp_path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    registry = {"version": 1, "models": [], "aliases": {"proj/train": {"production": "x"}}}
    (store / "registry.json").write_text(json.dumps(registry))
    got = _bash(runner, "abyssexp predict proj/train@", env={"ABYSSEXP_STORE": str(store)})
    assert got == ["proj/train@production"]


def _copies(scratch: Path, template: Path, count: int) -> None:
    """``count`` experiment folders like ``template`` (its record), as ``new`` lays them out,
    without running ``new`` 5,000 times."""
    folder = scratch / "big" / "sweep"
    folder.mkdir(parents=True)
    record = (template / "record.json").read_bytes()
    for number in range(1, count + 1):
        target = folder / f"{number:04d}.shapes.trial{number}"
        target.mkdir()
        (target / "record.json").write_bytes(record)


def test_fast_with_5000_experiments_and_never_tensorflow(runner, made, scratch) -> None:
    _copies(scratch, scratch / "proj" / "train" / made["first"], 5000)
    _bash(runner, "abyssexp show big/sweep/1")  # warm: Typer builds its commands once
    # This thread's CPU time, not wall time: other runs may share the two cores, and a long-lived
    # test worker may still run threads of earlier tests (TensorFlow's), which process time counts.
    # Nor the collector's: a full collection of the garbage earlier tests left in this worker
    # took 0.6 s once (the completion itself takes about 0.05 s).
    for line in ("abyssexp show big/sweep/", "abyssexp show big/sweep/12", "abyssexp show b"):
        gc.collect()
        gc.disable()
        try:
            started = time.thread_time()
            got = _bash(runner, line)
            elapsed = time.thread_time() - started
        finally:
            gc.enable()
        assert got and elapsed < 0.150, (line, len(got), elapsed)
    assert len(_bash(runner, "abyssexp show big/sweep/")) == 5000
    code = (
        "import os, sys\n"
        "from abyssexp.cli.app import app\n"
        "try:\n    app(prog_name='abyssexp')\nexcept SystemExit:\n    pass\n"
        "print('TF' if 'tensorflow' in sys.modules else 'no TF')\n"
    )
    env = {
        **os.environ,
        "_ABYSSEXP_COMPLETE": "complete_bash",
        "COMP_WORDS": f"abyssexp train proj/train/{made['first']} --set training.lr",
        "COMP_CWORD": "4",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split()[-2:] == ["no", "TF"], done.stdout + done.stderr
    assert "training.lr=" in done.stdout


@pytest.mark.slow
def test_test_conditions_of_the_experiment_on_the_line(runner, trained_pair) -> None:
    env = {"ABYSSEXP_SCRATCH": str(trained_pair.scratch)}
    ref = str(trained_pair.first)
    got = _bash(runner, f"abyssexp test {ref} --condition ", env=env)
    assert got == ["shapes-test"]
    assert "shapes-test:accuracy>=" in _bash(runner, f"abyssexp promote {ref} --require ", env)
    assert "shapes-test:macro_f1" in _bash(runner, f"abyssexp compare {ref} --metric sh", env)

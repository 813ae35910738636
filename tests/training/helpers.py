"""Small helpers for training tests: a tiny experiment on the session's shapes dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from abyssexp.cli import app

TINY = [
    "--set",
    "model.backbone=tinycnn",
    "--set",
    "model.init_weights=none",
    "--set",
    "model.input_shape=[32,32,3]",
    "--set",
    "training.batch_size=16",
    "--set",
    "training.lr=0.002",
    "--set",
    "dataset.map_by=supercategory",
]


#: Three epochs of 6 batches, seeded and deterministic, without the extra callbacks: two runs of
#: the same experiment write the same history.csv.
DETERMINISTIC = [
    "--set",
    "training.epochs=3",
    "--set",
    "training.deterministic=true",
    "--set",
    "training.seed=7",
    "--set",
    "callbacks.pr_curves=false",
    "--set",
    "callbacks.tfpn=false",
    "--set",
    "callbacks.log_images=0",
    "--set",
    "training.batch_size=8",
]


@contextmanager
def module_scratch(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A scratch root of its own for a module's fixture (``ABYSSEXP_SCRATCH``, a store and an
    absent config set while the block runs): the fixture's experiments, shared by its tests."""
    base = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(base / "scratch"))
        patch.setenv("ABYSSEXP_STORE", str(base / "store"))
        patch.setenv("ABYSSEXP_CONFIG", str(base / "no-config.toml"))
        yield base / "scratch"


def new_tiny(runner, shapes: dict[str, Path], *extra: str, name: str = "tiny") -> Path:
    result = runner.invoke(
        app,
        [
            "new",
            "proj",
            "train",
            name,
            "--train",
            str(shapes["train"]),
            "--val",
            str(shapes["val"]),
            *TINY,
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def history(root: Path) -> list[dict[str, str]]:
    import csv

    with open(root / "logs" / "history.csv") as handle:
        return list(csv.DictReader(handle))


def record(root: Path) -> dict:
    return json.loads((root / "record.json").read_text())


def start_training(root: Path, scratch: Path) -> subprocess.Popen:
    """``abyssexp train ROOT --quiet`` in its own process, as users run it (stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "abyssexp", "train", str(root), "--quiet"],
        env={**os.environ, "ABYSSEXP_SCRATCH": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run_in_scratch(args: list[str], scratch: Path) -> subprocess.CompletedProcess:
    """``args`` in a process of their own with ``scratch`` as the scratch root."""
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(scratch)}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)


def train_in_scratch(root: Path, scratch: Path, *extra: str) -> subprocess.CompletedProcess:
    """``abyssexp train ROOT --quiet EXTRA`` in a process of its own, as users run it."""
    return run_in_scratch(
        [sys.executable, "-m", "abyssexp", "train", str(root), "--quiet", *extra], scratch
    )


# Trains like `abyssexp train` each root it is given, in order, in one process (one TensorFlow
# start; each plans, builds and seeds afresh from its params, as a new process does). A root
# given as ``cut=ROOT`` sends itself SIGTERM after batch 2 of epoch 2 (0-based epoch 1): the
# interruption lands mid-epoch every time, not at a moment chosen by timing. One line per root:
# its status and epochs done, or ``error -`` (the traceback on stderr) and on to the next.
INTERRUPTING_DRIVER = """
import os, signal, sys, traceback
from pathlib import Path
import keras
from abyssexp.tf_runtime import configure_tensorflow_environment
configure_tensorflow_environment()
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.training.plan import TrainOptions, plan_training
from abyssexp.training.run import train_experiment

class SignalMidEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 2:
            os.kill(os.getpid(), signal.SIGTERM)

for argument in sys.argv[1:]:
    root = argument.removeprefix("cut=")
    callbacks = [SignalMidEpoch()] if argument.startswith("cut=") else []
    try:
        plan = plan_training(ExperimentPaths(Path(root)), TrainOptions())
        done = train_experiment(plan, extra_callbacks=callbacks)
        print(done.status, done.epochs_done, flush=True)
    except Exception:
        traceback.print_exc()
        print("error -", flush=True)
"""

# `abyssexp train ROOT --quiet OPTIONS...` for each root it is given (after the options, then
# ``--``), in order, in one process that has trained nothing before: a resume starts from the
# files alone. After each command's own output, a line ``exit-code: N``.
TRAINING_DRIVER = """
import sys
from abyssexp.cli import app

split = sys.argv.index("--")
for root in sys.argv[split + 1 :]:
    try:
        app(["train", root, "--quiet", *sys.argv[1:split]], prog_name="abyssexp")
        code = 0
    except SystemExit as exit:
        code = exit.code
    print(f"exit-code: {code}", flush=True)
"""


def straight_then_interrupted(
    straight: Path, cut: Path, scratch: Path
) -> subprocess.CompletedProcess:
    """``straight`` trained uninterrupted, then ``cut`` stopped by SIGTERM in epoch 2, in one
    process; its last line says how ``cut`` ended."""
    (done,) = straight_then_interrupted_pairs([(straight, cut)], scratch)
    return done


def straight_then_interrupted_pairs(
    pairs: list[tuple[Path, Path]], scratch: Path
) -> list[subprocess.CompletedProcess]:
    """Each pair's straight root trained uninterrupted, then its cut one stopped by SIGTERM in
    epoch 2, all in one process; per pair, what it printed for the two (stderr is the
    process's, shared)."""
    arguments = [text for straight, cut in pairs for text in (str(straight), f"cut={cut}")]
    done = run_in_scratch([sys.executable, "-c", INTERRUPTING_DRIVER, *arguments], scratch)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 2 * len(pairs), done.stdout + done.stderr[-3000:]
    per_pair = []
    for index in range(len(pairs)):
        printed = "\n".join(lines[2 * index : 2 * index + 2])
        assert printed.split()[:2] == ["completed", "3"], printed + done.stderr[-3000:]
        per_pair.append(subprocess.CompletedProcess(done.args, 0, printed, done.stderr))
    return per_pair


def trained_in_one_process(
    roots: list[Path], scratch: Path, *options: str
) -> tuple[list[str], subprocess.CompletedProcess]:
    """``abyssexp train ROOT --quiet OPTIONS`` for each root in one new process: each
    command's exit code, and the process."""
    arguments = [*options, "--", *map(str, roots)]
    done = run_in_scratch([sys.executable, "-c", TRAINING_DRIVER, *arguments], scratch)
    codes = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("exit-code:")]
    assert done.returncode == 0 and len(codes) == len(roots), done.stderr[-3000:]
    return codes, done

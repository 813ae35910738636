"""``abyssexp train`` end to end on tiny models and real JPEGs."""

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from abyssexp.cli import app
from tests.training.helpers import (
    history,
    new_tiny,
    record,
    start_training,
    trained_in_one_process,
)


def _tensorboard_tags(folder: Path) -> dict[str, list[str]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator.Tags()


@pytest.mark.slow
def test_train_checkpoints_logs_and_refuses_to_overwrite(runner, scratch: Path, shapes) -> None:
    root = new_tiny(runner, shapes, "--set", "training.epochs=2")
    result = runner.invoke(app, ["train", str(root), "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["epochs_done"] == 2
    models = root / "models"
    for name in (
        "model_1.keras",
        "model_2.keras",
        "best.keras",
        "model_definition.json",
        "class_names.json",
        "category_map.json",
        "train_state.json",
    ):
        assert (models / name).is_file(), name
    assert json.loads((models / "class_names.json").read_text()) == ["boxy", "pointy", "round"]
    rows = history(root)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "val_macro_f1"} <= set(rows[0])
    rec = record(root)
    assert (
        rec["status"] == "completed"
        and rec["epochs_done"] == 2
        and rec["best"]["metric"] == "val_loss"
    )
    provenance = json.loads((root / "logs" / "provenance.json").read_text())["train"]
    assert (
        len(provenance["datasets"]["train"]["sha256"]) == 64 and provenance["category_map_sha256"]
    )
    assert (
        provenance["tensorflow"]
        and (root / "logs" / "requirements.txt").read_text().count("==") > 10
    )
    assert (root / "logs" / "git.diff").exists()

    # TensorBoard itself reads the PR curves and per-class counts back.
    tags = _tensorboard_tags(root / "logs" / "validation_metrics")
    assert {"pr_curve/boxy/pr_curves", "pr_curve/round/pr_curves"} <= set(tags["tensors"])
    assert "class/pointy/tp" in tags["tensors"] and "class/pointy/f1" in tags["tensors"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(
        str(root / "logs" / "validation_metrics"), size_guidance={"tensors": 0}
    )
    accumulator.Reload()
    curve = accumulator.Tensors("pr_curve/boxy/pr_curves")
    # On the step axis of Keras' own epoch scalars (0-based), as the loss and accuracy.
    assert [event.step for event in curve] == [0, 1]
    data = np.asarray(__import__("tensorflow").make_ndarray(curve[-1].tensor_proto))
    assert data.shape == (6, 101)  # TP, FP, TN, FN, precision, recall per threshold
    # Augmentation is off here: no "augmented images" tab (it would show plain images).
    assert not (root / "logs" / "images").exists()
    lr_tags = _tensorboard_tags(root / "logs" / "train")
    assert "epoch_lr" in lr_tags["tensors"] or "epoch_learning_rate" in lr_tags["tensors"]

    again = runner.invoke(app, ["train", str(root)])
    assert again.exit_code == 1 and "pass --resume" in again.output

    resumed = runner.invoke(app, ["train", str(root), "--resume", "--epochs", "3", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert [r["epoch"] for r in history(root)] == ["1", "2", "3"]
    assert record(root)["epochs_done"] == 3


def test_bad_train_options_are_one_line(runner, scratch: Path, shapes) -> None:
    root = new_tiny(runner, shapes)
    result = runner.invoke(
        app,
        [
            "train",
            str(root),
            "--optimizer-args",
            "{'momentun': 0.9}",
            "--optimizer",
            "sgd",
            "--epochs",
            "1",
        ],
    )
    assert result.exit_code == 2
    assert (
        "SGD has no argument(s) momentun (valid:" in result.output and "momentum" in result.output
    )
    result = runner.invoke(app, ["train", str(root), "--optimizer-args", "__import__('os')"])
    assert result.exit_code == 2 and "function calls are not allowed" in result.output
    result = runner.invoke(
        app, ["train", str(root), "--set", "model.backbone=resnet5", "--epochs", "1"]
    )
    assert result.exit_code == 2 and "did you mean resnet50" in result.output
    assert record(root)["status"] == "new"


@pytest.mark.slow
def test_sigkill_then_resume(runner, scratch: Path, shapes) -> None:
    epochs = 12  # enough that the kill lands before the last: an epoch takes tenths of a second
    root = new_tiny(
        runner,
        shapes,
        "--set",
        f"training.epochs={epochs}",
        "--set",
        "training.lr_schedule=cosine",
        "--set",
        "callbacks.pr_curves=false",
    )
    process = start_training(root, scratch)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = root / "models" / "train_state.json"
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 2:
            break
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = json.loads((root / "models" / "train_state.json").read_text())["epoch"]
    assert 2 <= killed_at < epochs
    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert listed[0]["status"] == "crashed"
    best_before = json.loads((root / "models" / "train_state.json").read_text())["best_value"]

    result = runner.invoke(app, ["train", str(root), "--resume", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = history(root)
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))  # no duplicate rows
    state = json.loads((root / "models" / "train_state.json").read_text())
    losses = [float(r["val_loss"]) for r in rows]
    assert state["best_value"] == pytest.approx(min(losses)) and state["best_value"] <= best_before
    assert state["best_epoch"] == 1 + int(np.argmin(losses))
    # The learning-rate schedule continued where it stopped: cosine over the epochs of 3 steps.
    import math

    steps, total = 3, 3 * epochs
    expected = [
        0.002 * 0.5 * (1 + math.cos(math.pi * min(e * steps, total) / total))
        for e in range(1, epochs + 1)
    ]
    assert [float(r["lr"]) for r in rows] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(root / "models" / f"model_{epochs}.keras")
    assert int(model.optimizer.iterations.numpy()) == epochs * steps
    assert record(root)["status"] == "completed"


@pytest.mark.slow
def test_deterministic_runs_and_curves_do_not_touch_weights(runner, scratch: Path, shapes) -> None:
    common = [
        "--set",
        "training.epochs=2",
        "--set",
        "training.deterministic=true",
        "--set",
        "training.seed=7",
    ]
    with_curves = new_tiny(runner, shapes, *common, name="curves")
    without = new_tiny(
        runner,
        shapes,
        *common,
        "--set",
        "callbacks.pr_curves=false",
        "--set",
        "callbacks.tfpn=false",
        "--set",
        "callbacks.log_images=0",  # its own pipeline: logging images must not shift fit's order
        name="plain",
    )
    # Trained in a process of their own, one after the other, as users run `abyssexp train`:
    # in-process runs under pytest-xdist can see the harness's threads draw from Python's global
    # `random`, which Keras seeds initializers from.
    codes, done = trained_in_one_process([with_curves, without], scratch)
    assert codes == ["0", "0"], done.stderr[-3000:]
    curves_only = ("val_macro_f1", "val_distinct_predictions")
    a = [{k: v for k, v in r.items() if k not in curves_only} for r in history(with_curves)]
    b = [{k: v for k, v in r.items() if k not in curves_only} for r in history(without)]
    assert a == b  # identical history.csv for the same seed
    from abyssexp.models.classifier import load_keras_model

    wa = load_keras_model(with_curves / "models" / "model_2.keras").get_weights()
    wb = load_keras_model(without / "models" / "model_2.keras").get_weights()
    for x, y in zip(wa, wb, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_sigterm_saves_recovery_and_marks_interrupted(runner, scratch: Path, shapes) -> None:
    root = new_tiny(
        runner,
        shapes,
        "--set",
        "training.epochs=30",
        "--set",
        "callbacks.pr_curves=false",
        "--set",
        "training.checkpoint_format=h5",
    )
    process = start_training(root, scratch)
    deadline = time.monotonic() + 240
    while not (root / "models" / "train_state.json").is_file():
        assert process.poll() is None and time.monotonic() < deadline, (
            process.stderr.read().decode()[-2000:]
        )
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 130
    rec = record(root)
    assert rec["status"] == "interrupted" and "SIGTERM" in rec["error"]
    assert (root / "models" / "recovery.keras").is_file()
    assert (root / "models" / "model_1.h5").is_file()  # checkpoint_format=h5, as in the seed
    from abyssexp.models.classifier import load_keras_model

    assert load_keras_model(root / "models" / "recovery.keras").output_shape == (None, 3)


#: Trains ROOT with a callback (after early stopping's) that sends the process SIGTERM once
#: early stopping has decided to stop: the signal arrives while the last epoch's files are
#: written, after its last batch. Prints the run's status and epochs done.
SIGNAL_AT_THE_STOP = """
import os, signal, sys
from pathlib import Path
import keras
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.training.plan import TrainOptions, plan_training
from abyssexp.training.run import train_experiment

class SignalAtTheStop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            os.kill(os.getpid(), signal.SIGTERM)

plan = plan_training(ExperimentPaths(Path(sys.argv[1])), TrainOptions())
done = train_experiment(plan, extra_callbacks=[SignalAtTheStop()])
print(done.status, done.epochs_done, flush=True)
"""


@pytest.mark.slow
def test_a_signal_after_early_stoppings_last_epoch_cuts_nothing_short(
    runner, scratch: Path, shapes
) -> None:
    """Ctrl-C while the epoch early stopping ends the run on writes its files: no batch is left
    to cut, the run is whole. It was marked interrupted (epochs done < epochs asked), and its
    resume trained past the stop."""
    import sys

    from tests.training.helpers import run_in_scratch

    root = new_tiny(
        runner,
        shapes,
        *["--set", "training.epochs=8", "--set", "training.early_stopping_patience=1"],
        *["--set", "training.lr=1e-12", "--set", "callbacks.pr_curves=false"],
    )
    done = run_in_scratch([sys.executable, "-c", SIGNAL_AT_THE_STOP, str(root)], scratch)
    assert done.returncode == 0, done.stderr[-2000:]
    status, epochs = done.stdout.split()
    assert status == "completed" and 2 <= int(epochs) < 8, done.stdout  # stopped early
    assert record(root)["status"] == "completed"


#: Trains ROOT with a callback that turns the model's weights to NaN after the first batch of
#: epoch 2, as a diverging run's are: the next batch's loss is NaN.
NAN_IN_EPOCH_2 = """
import sys
from pathlib import Path
import keras, numpy as np
from abyssexp.cli import app

class Diverge(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 0:
            for variable in self.model.trainable_variables:
                variable.assign(np.full(variable.shape, np.nan, variable.dtype))

import abyssexp.training.callbacks as callbacks
make = callbacks.make_callbacks
callbacks.make_callbacks = lambda *a, **k: (lambda found: (found[0] + [Diverge()], found[1]))(
    make(*a, **k))
import abyssexp.training.run
app(["train", sys.argv[1]], prog_name="abyssexp")
"""


@pytest.mark.slow
def test_a_diverging_run_fails_with_its_finished_epochs_kept(runner, scratch: Path, shapes) -> None:
    """A NaN loss: Keras' TerminateOnNaN printed its own line, finished the epoch (a history
    row and a checkpoint of NaN weights) and the run ended completed. Now: failed, one line
    saying what to change, and the diverging epoch in no file."""
    import sys

    from tests.training.helpers import run_in_scratch

    root = new_tiny(runner, shapes, "--set", "training.epochs=4")
    done = run_in_scratch([sys.executable, "-c", NAN_IN_EPOCH_2, str(root)], scratch)
    assert done.returncode == 1, done.stderr[-2000:]
    said = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(said) == 1 and "the training loss became nan in epoch 2, batch 2" in said[0]
    assert "Lower training.lr (it is 0.002)" in said[0] and "Traceback" not in done.stderr
    assert "Invalid loss" not in done.stdout + done.stderr
    rec = record(root)
    assert rec["status"] == "failed" and "the run diverged" in rec["error"]
    assert [row["epoch"] for row in history(root)] == ["1"]
    assert not (root / "models" / "model_2.keras").exists()

"""Quiet start-up in every command that loads TensorFlow, one line per epoch in a pipe, time
that adds up over resumed runs, and export parity printed by ``promote --export``.

Every command runs as a person runs it: its own process, output into a pipe."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.training.helpers import TINY

#: What TensorFlow, absl, CUDA and Keras print when nobody asked them to.
NOISE = re.compile(
    r"oneDNN|cuda|cuInit|absl|^[IWEF]\d{4} |UserWarning|Warning:|Downloading data from|"
    r"tensorflow/|cpu_feature_guard|rebuild TensorFlow",
    re.MULTILINE,
)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "abyssexp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _quiet(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr
    for stream in (done.stdout, done.stderr):
        assert not NOISE.search(stream), stream


def _seconds(text: str) -> float:
    """The training summary's time (a field list, boxed or not)."""
    return float(re.search(r"^[│ ]*time[│ ]+([\d.]+) s", text, re.MULTILINE).group(1))


@pytest.fixture(scope="module")
def session(shapes, tmp_path_factory) -> SimpleNamespace:
    """One tiny experiment trained for an epoch by ``--on local`` (a child process), then
    resumed for a second in a pipe; its outputs kept for the tests below."""
    base = tmp_path_factory.mktemp("quiet")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env |= {
        "ABYSSEXP_SCRATCH": str(base / "scratch"),
        "ABYSSEXP_STORE": str(base / "store"),
        "ABYSSEXP_CONFIG": str(base / "none.toml"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # what a person's shell has: nothing
    made = _run(
        env,
        *("new", "proj", "quiet", "d", "--train", str(shapes["train"])),
        *("--val", str(shapes["val"]), *TINY),
    )
    assert made.returncode == 0, made.stderr
    root = Path(made.stdout.strip().splitlines()[-1])
    first = _run(env, "train", str(root), "--epochs", "1", "--on", "local")
    second = _run(env, "train", str(root), "--epochs", "2", "--resume")
    return SimpleNamespace(env=env, root=root, first=first, second=second, base=base)


@pytest.mark.slow
def test_training_is_quiet_in_a_child_process_and_in_a_pipe(session) -> None:
    _quiet(session.first)
    child_log = (session.root / "logs" / "local.log").read_text()
    assert "epoch 1/1" in child_log and not NOISE.search(child_log), child_log
    _quiet(session.second)


@pytest.mark.slow
def test_a_piped_epoch_line_is_one_line_with_every_number(session) -> None:
    lines = [line for line in session.second.stderr.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 1, session.second.stderr
    for key in ("loss=", "accuracy=", "val_loss=", "val_accuracy=", "val_macro_f1=", "lr="):
        assert key in lines[0], lines[0]
    assert re.search(r" [\d.]+ s\b", lines[0]) and len(lines[0]) > 80  # never wrapped at 80
    header = (session.root / "logs" / "history.csv").read_text().splitlines()[0]
    assert "val_macro_f1" in header and "val_distinct_predictions" in header


@pytest.mark.slow
def test_time_adds_up_over_resumed_runs(session) -> None:
    # The --on local run printed nothing of its summary here; its child's log has it.
    first = _seconds((session.root / "logs" / "local.log").read_text())
    second = _seconds(session.second.stdout)
    assert "over every train of it" in session.second.stdout, session.second.stdout
    compared = _run(session.env, "compare", str(session.root), "--json")
    assert compared.returncode == 0, compared.stderr
    column = json.loads(compared.stdout)["experiments"][0]
    assert column["seconds"] == pytest.approx(first + second, abs=0.3)
    record = json.loads((session.root / "record.json").read_text())
    assert record["train_images"] == 2 * 48  # two epochs of the 48 training images
    assert column["images_per_second"] == pytest.approx(96 / column["seconds"], rel=1e-3)


@pytest.mark.slow
def test_test_predict_promote_export_are_quiet_and_parity_is_printed(session, shapes) -> None:
    env, root = session.env, str(session.root)
    _quiet(_run(env, "test", root, "--coco", str(shapes["test"]), "--condition", "held-out"))
    predicted = _run(env, "predict", root, "--coco", str(shapes["test"]))
    _quiet(predicted)
    assert "test_00000.jpg" in predicted.stdout
    promoted = _run(
        env, "promote", root, "--export", "onnx", "--accept", "constant_predictions,small_test_set"
    )
    _quiet(promoted)
    assert re.search(r"onnx\s.*\d\.\de[+-]\d+.*1\.000", promoted.stdout), promoted.stdout
    assert "max |diff|" in promoted.stdout and "top-1" in promoted.stdout
    exported = _run(env, "export", root, "--format", "onnx", "--out", str(session.base / "x"))
    _quiet(exported)
    preview = _run(
        env,
        *("augment", "preview", root, "--out", str(session.base / "p.png")),
        *("--augmentation-configuration", '{"flip_lr": True}'),
    )
    _quiet(preview)


@pytest.mark.slow
def test_missing_imagenet_weights_is_the_first_and_only_line(session, shapes) -> None:
    env = {**session.env, "KERAS_HOME": str(session.base / "no-keras-home")}
    made = _run(
        env,
        *("new", "proj", "imagenet", "d", "--train", str(shapes["train"])),
        *("--val", str(shapes["val"]), *TINY, "--set", "model.init_weights=imagenet"),
    )
    assert made.returncode == 0, made.stderr
    root = made.stdout.strip().splitlines()[-1]
    trained = _run(env, "train", root)
    if trained.returncode == 0:  # pragma: no cover - a machine with internet downloaded them
        pytest.skip("the ImageNet weights could be downloaded here")
    assert trained.stdout == ""
    assert trained.stderr.splitlines() == [trained.stderr.strip()], trained.stderr
    assert trained.stderr.startswith("error: model.init_weights=imagenet: cannot download")


@pytest.mark.slow
def test_verbose_brings_the_lines_back(session, shapes) -> None:
    image = str(Path(shapes["test"]).parent / "images" / "test" / "test_00000.jpg")
    loud = _run(session.env, "--verbose", "predict", str(session.root), image)
    assert loud.returncode == 0, loud.stderr
    assert NOISE.search(loud.stderr), loud.stderr  # this machine's oneDNN / CUDA lines


@pytest.mark.slow
def test_sweep_run_is_quiet_in_its_children(session) -> None:
    made = _run(
        session.env,
        *("sweep", "new", "proj", "quiet-sweep", "d", "--from", str(session.root)),
        *("--grid", "training.lr=1e-3", "--set", "training.epochs=1"),
    )
    assert made.returncode == 0, made.stderr
    ran = _run(session.env, "sweep", "run", made.stdout.strip().splitlines()[-1])
    _quiet(ran)
    assert "best trial: 001." in ran.stdout and "no runner-up" in ran.stdout  # issue 29
    (trial,) = (session.base / "scratch" / "proj" / "quiet-sweep").glob("001.*")
    child_log = (trial / "logs" / "local.log").read_text()
    assert "epoch 1/1" in child_log and not NOISE.search(child_log), child_log

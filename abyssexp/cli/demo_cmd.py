"""``abyssexp demo``: the whole lifecycle on the embedded shapes dataset, on a CPU, in minutes.

It runs the real commands (printed as you would type them): new → train → test → promote → list.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, TextIO

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import out

DEMO_SPLITS = {"train": 1500, "val": 300, "test": 300}
DEMO_SIZE = 64


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def _run(args: list[str]) -> str:
    """Run one abyssexp command in-process, echoing it and its output; returns its stdout."""
    from typer.main import get_command

    out.print(f"\n[bold cyan]$ abyssexp {shlex.join(args)}[/]")
    captured = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, captured)):
        code = get_command(app).main(args, prog_name="abyssexp", standalone_mode=False)
    if code not in (None, 0):
        raise typer.Exit(code)
    return captured.getvalue()


def _demo_settings(backbone: str, epochs: int) -> list[str]:
    """The demo experiment's ``--set`` options: a small backbone from scratch, light augmentation."""
    settings = [
        "dataset.map_by=supercategory",
        f"model.backbone={backbone}",
        "model.init_weights=none",
        f"model.input_shape=[{DEMO_SIZE},{DEMO_SIZE},3]",
        "training.batch_size=32",
        "training.lr=0.002",
        "training.lr_schedule=cosine",
        f"training.epochs={epochs}",
        "augmentation.enabled=true",
        "augmentation.flip_lr=true",
        "augmentation.flip_ud=true",
        "augmentation.some_of=1",
        "augmentation.bright=(0.9,1.1)",
    ]
    return [part for setting in settings for part in ("--set", setting)]


@app.command("demo")
def demo_command(
    scratch: Annotated[
        Path, typer.Option("--scratch", help="Folder for the dataset, scratch and store.")
    ] = Path("demo-scratch"),
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=1000, help="Training epochs.")] = 14,
    backbone: Annotated[
        str, typer.Option("--backbone", help="Backbone to train from scratch.")
    ] = "mobilenetv3small",
) -> None:
    """Generate the shapes dataset and run new → train → test → promote → list on it."""
    from abyssexp.datasets.synthetic import write_shapes_dataset
    from abyssexp.tf_runtime import load_tensorflow

    load_tensorflow()
    started = time.monotonic()
    root = scratch.absolute()
    data = root / "data" / "shapes"
    scratch_root = root / "scratch"
    store = root / "store"
    out.print(f"[bold]abyssexp demo[/] in {root}")
    if not (data / "coco.test.json").is_file():
        out.print(
            f"generating the shapes dataset in {data} ({sum(DEMO_SPLITS.values())} JPEGs) ..."
        )
        write_shapes_dataset(data, DEMO_SPLITS, size=DEMO_SIZE, seed=0)
    common = ["--scratch", str(scratch_root)]
    created = _run(
        [
            "new",
            "shapes",
            "classification",
            "synthetic",
            "supercat",
            backbone,
            "--train",
            str(data / "coco.train.json"),
            "--val",
            str(data / "coco.val.json"),
            "--make-datasets",
            str(data / "make-datasets.sh"),
            *_demo_settings(backbone, epochs),
            "--note",
            "Demo: round vs boxy vs pointy shapes (supercategory map), trained from scratch",
            *common,
        ]
    )
    experiment = created.strip().splitlines()[-1]
    _run(["train", experiment, "--quiet", *common])
    _run(
        [
            "test",
            experiment,
            "--coco",
            str(data / "coco.test.json"),
            "--condition",
            "shapes-test",
            *common,
        ]
    )
    from abyssexp.schemas.results import METRICS_FILE, read_test_metrics

    metrics = read_test_metrics(Path(experiment) / "testing" / "shapes-test" / METRICS_FILE)
    _run(
        [
            "promote",
            experiment,
            "--require",
            "shapes-test:accuracy.low>=0.5",
            "--alias",
            "candidate",
            "--store",
            str(store),
            *common,
        ]
    )
    _run(["list", *common])
    _run(["promoted", "--store", str(store)])
    _print_summary(time.monotonic() - started, dict(metrics), experiment, store)


def _print_summary(seconds: float, metrics: dict, experiment: str, store: Path) -> None:
    out.print(
        f"\n[bold green]demo finished in {seconds:.0f} s[/]: test accuracy "
        f"[bold]{metrics['accuracy']:.3f}[/] on {metrics['images']} images\n"
        f"  experiment: {experiment}\n"
        f"  test results: {experiment}/testing/shapes-test/ (report.txt, pr_curves.png, confusion_matrix.png)\n"
        f"  TensorBoard: tensorboard --logdir {experiment}/logs\n"
        f"  promoted model: {store}/shapes/classification/{Path(experiment).name}/"
    )

"""``abyssexp train`` and ``abyssexp backbones``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import err, out, print_json
from abyssexp.cli.launch import OnOption, ParallelOption, check_place, launch, with_slurm_flags
from abyssexp.cli.options import JsonOption, ScratchOption, SetOption, scratch_root
from abyssexp.cli.tables import print_fields

if TYPE_CHECKING:
    from pathlib import Path

    from abyssexp.training.plan import TrainOptions
    from abyssexp.training.run import TrainResult


@app.command("train")
@with_slurm_flags()
def train_command(
    refs: Annotated[
        list[str],
        typer.Argument(
            help="Experiment(s): folder, PROJECT/TYPE/NNN or PROJECT/TYPE/NAME (several: --on)."
        ),
    ],
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, max=100_000, help="Override training.epochs.")
    ] = None,
    set_: SetOption = None,
    augmentation_configuration: Annotated[
        str | None,
        typer.Option(
            "--augmentation-configuration",
            help='The seed\'s dict, e.g. \'{"flip_lr":True, "gnoise":(0,0.05*255)}\' (switches augmentation on).',
        ),
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option("--optimizer", help="Any Keras optimizer by name.")
    ] = None,
    optimizer_args: Annotated[
        str | None,
        typer.Option("--optimizer-args", help="Its arguments, e.g. \"{'momentum': 0.9}\"."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last finished epoch.")
    ] = False,
    gpus: Annotated[
        int | None, typer.Option("--gpus", min=0, max=1024, help="GPUs (>1: MirroredStrategy).")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="One line per epoch, no live bars.")
    ] = False,
    on: OnOption = None,
    parallel: ParallelOption = None,
    slurm: dict[str, Any] | None = None,  # the Slurm flags (with_slurm_flags)
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Train an experiment from its params.json: checkpoints in models/, TensorBoard logs and
    history.csv in logs/. Refuses to start when already running or when checkpoints exist
    without --resume. --on local|slurm (or several REFs): each its own process or Slurm job."""
    from abyssexp.training.plan import TrainOptions

    options = TrainOptions(
        set_items=tuple(set_ or ()),
        epochs=epochs,
        augmentation_configuration=augmentation_configuration,
        optimizer=optimizer,
        optimizer_args=optimizer_args,
        resume=resume,
        gpus=gpus,
        command_line=["abyssexp", *sys.argv[1:]],
    )
    if on is None and len(refs) == 1:
        _train_here(refs[0], options, quiet, scratch, json_output)
        return
    _train_elsewhere(refs, on, parallel, slurm or {}, options, scratch, json_output)


def _train_here(
    ref: str, options: TrainOptions, quiet: bool, scratch: Path | None, json_output: bool
) -> None:
    """Train one experiment in this process, with live progress."""
    from abyssexp.experiment.refs import resolve_ref
    from abyssexp.schemas.record import Status
    from abyssexp.training.plan import plan_training

    paths = resolve_ref(ref, scratch_root(scratch))
    plan = plan_training(paths, options)  # fail fast, before TensorFlow loads
    _print_warnings(plan.data_warnings)
    from abyssexp.tf_runtime import load_tensorflow

    load_tensorflow()
    from abyssexp.cli.progress import RichTrainingProgress
    from abyssexp.training.run import train_experiment

    plain = quiet or json_output or not (out.is_terminal and err.is_terminal)
    progress = RichTrainingProgress(plan.params.training.batch_size, quiet=plain)
    result = train_experiment(plan, extra_callbacks=[progress])
    _print_result(result, json_output)
    if result.status == Status.INTERRUPTED:
        raise typer.Exit(130)


def _train_elsewhere(
    refs: list[str],
    on: str | None,
    parallel: int | None,
    slurm: dict[str, Any],
    options: TrainOptions,
    scratch: Path | None,
    json_output: bool,
) -> None:
    """``--on local|slurm`` (or several experiments): each run its own process or job."""
    from abyssexp.runners.targets import plan_runs

    check_place(on)
    plan = plan_runs(scratch_root(scratch), refs, options)
    if not launch(plan, options, on or "local", parallel, slurm, json_output):
        raise typer.Exit(1)


def _print_result(result: TrainResult, json_output: bool) -> None:
    """The run's summary: a table, or JSON."""
    if json_output:
        print_json(result.to_json())
        return
    best = (
        f"{result.best_value:.4f} at epoch {result.best_epoch}"
        if result.best_value is not None
        else "-"
    )
    fields = [
        ("experiment", result.path),
        ("epochs", f"{result.epochs_done}/{result.epochs_total}"),
        (f"best {result.best_metric}", best),
        ("time", _with_total(f"{result.seconds:.1f} s", result.total_seconds, result.seconds)),
    ]
    if result.images_per_second:
        rate, total = result.images_per_second, result.total_images_per_second
        fields.append(("throughput", _with_total(f"{rate:.0f} images/s", total, rate, "{:.0f}")))
    fields += list(result.files.items())
    print_fields(f"training {result.status}", fields)
    _print_warnings(result.warnings)


def _with_total(shown: str, total: float | None, this_run: float, form: str = "{:.1f}") -> str:
    """``12.0 s (30.5 s over every train of it)`` when earlier runs (``--resume``) add up."""
    if total is None or abs(total - this_run) < 0.05:
        return shown
    return f"{shown} ({form.format(total)} over every train of it)"


def _print_warnings(warnings: list[str]) -> None:
    """Warnings about the run's outcome (a collapsed model), after the summary."""
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)


@app.command("backbones")
def backbones_command(
    pattern: Annotated[str | None, typer.Argument(help="Glob, e.g. 'efficientnet*'.")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the backbones (keras.applications, and tinycnn for tests): input size, preprocessing."""
    from abyssexp.tf_runtime import load_tensorflow

    load_tensorflow()
    from abyssexp.models.backbones import list_backbones

    specs = list_backbones(pattern)
    if json_output:
        print_json(
            [{"name": s.name, "input_size": s.input_size, "preprocessing": s.module} for s in specs]
        )
        return
    from abyssexp.cli.tables import Column, print_table

    columns = [
        Column("backbone", key=True),
        Column("input size"),
        Column("preprocess_input from", 2),
    ]
    rows = [
        [spec.name, f"{spec.input_size}×{spec.input_size}", f"keras.applications.{spec.module}"]
        for spec in specs
    ]
    print_table(columns, rows)

"""``sweep new|run|list|fold`` and ``cancel``: many experiments at once. No TensorFlow here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import err, print_json, print_line
from abyssexp.cli.launch import OnOption, ParallelOption, check_place, launch, with_slurm_flags
from abyssexp.cli.options import JsonOption, ScratchOption, SetOption, scratch_root
from abyssexp.cli.tables import Column, print_table

if TYPE_CHECKING:
    from abyssexp.sweeps.trials import SweepLocation

sweep_app = typer.Typer(
    name="sweep",
    help="Sweeps: a grid, random draws, seeds or folds as ordinary numbered experiments.",
    no_args_is_help=True,
)
app.add_typer(sweep_app)

SweepArgument = Annotated[
    str, typer.Argument(help="Sweep: PROJECT/TYPE/sNNN, sNNN (when unique) or its .json file.")
]

TrialsOption = Annotated[
    int,
    typer.Option(
        "--trials",
        min=0,
        max=100_000,
        help="Random draws (with --random) per grid point; Optuna's trials.",
    ),
]
SeedsOption = Annotated[
    int,
    typer.Option(
        "--seeds", min=0, max=10_000, help="K training seeds per point (training.seed + 0..K-1)."
    ),
]
FoldsOption = Annotated[
    int,
    typer.Option(
        "--folds", help="Stratified K-fold of the training file (val = fold): 0 (none) or 2..1000."
    ),
]
FoldGroupOption = Annotated[
    str | None,
    typer.Option(
        "--group-by",
        help="Folds keep these groups whole (images of one content always): near "
        "(near-duplicates: bursts, re-encodings), an image field, or a regex over file_name.",
    ),
]


SearchOption = Annotated[
    str, typer.Option("--search", help="grid (grid/random/seeds/folds) or optuna (needs Optuna).")
]
SpaceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--space", help="KEY=DIST (optuna): uniform, loguniform, randint or choice(x,y,...)."
    ),
]
MetricOption = Annotated[
    str | None,
    typer.Option("--metric", help="Optuna: the logged metric told (default training.monitor)."),
]
DirectionOption = Annotated[
    str | None,
    typer.Option("--direction", help="Optuna: maximize or minimize (default: by the metric)."),
]
PrunerOption = Annotated[
    str | None, typer.Option("--pruner", help="Optuna: median stops poor trials (off: none).")
]


@sweep_app.command("new")
def sweep_new_command(
    project: Annotated[str, typer.Argument(help="Project.")],
    experiment_type: Annotated[str, typer.Argument(help="Experiment type.")],
    dataset_info: Annotated[str, typer.Argument(help="Dataset shorthand (first name part).")],
    from_ref: Annotated[
        str, typer.Option("--from", help="The experiment whose params and data every trial uses.")
    ],
    infos: Annotated[
        list[str] | None, typer.Argument(help="More name parts, before each trial's own.")
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="KEY=V1,V2,...: every value (repeatable: the product)."),
    ] = None,
    random_: Annotated[
        list[str] | None,
        typer.Option(
            "--random",
            help="KEY=DIST: uniform(a,b), loguniform(a,b), randint(a,b) or choice(x,y,...).",
        ),
    ] = None,
    trials: TrialsOption = 0,
    seeds: SeedsOption = 0,
    folds: FoldsOption = 0,
    group_by: FoldGroupOption = None,
    random_seed: Annotated[
        int, typer.Option("--random-seed", help="Seed of the random draws and of the folds.")
    ] = 0,
    search: SearchOption = "grid",
    space: SpaceOption = None,
    metric: MetricOption = None,
    direction: DirectionOption = None,
    pruner: PrunerOption = None,
    set_: SetOption = None,
    note: Annotated[str, typer.Option("--note", help="The sweep's purpose.")] = "",
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a sweep: one numbered experiment per trial (all or none), and
    <type>/.sweeps/sNNN.json listing them. With --search optuna, an Optuna study instead: each
    trial is asked for and created when `sweep run` starts its slot. Prints the sweep's
    reference as the last line."""
    from abyssexp.schemas.resolve import parse_set_options
    from abyssexp.sweeps.trials import SweepRequest, create_sweep

    create = create_sweep
    if search == "optuna":  # a study: each trial is asked for when `sweep run` starts its slot
        from abyssexp.sweeps.optuna_search import create_optuna_sweep as create
    location = create(
        SweepRequest(
            scratch=scratch_root(scratch),
            project=project,
            experiment_type=experiment_type,
            dataset_info=dataset_info,
            base_ref=from_ref,
            infos=infos or [],
            grid=grid or [],
            random=random_ or [],
            trials=trials,
            seeds=seeds,
            folds=folds,
            fold_group_by=group_by,
            random_seed=random_seed,
            overrides=parse_set_options(set_ or []),
            note=note,
            command_line=["abyssexp", *sys.argv[1:]],
            search=search,
            space=space or [],
            metric=metric,
            direction=direction,
            pruner=pruner,
        )
    )
    _print_created(location, json_output)


def _print_created(location: SweepLocation, json_output: bool) -> None:
    """The trials made (or the study), then the sweep's reference as the last line."""
    if json_output:
        print_json({"sweep": location.ref, "path": str(location.path), **location.sweep.to_json()})
        return
    search = location.sweep.optuna
    if search is not None:
        err.print(
            f"created an Optuna study of {search.trials} trial(s), {search.direction} "
            f"{search.metric}; `abyssexp sweep run {location.ref}` runs them",
            markup=False,
        )
    else:
        err.print(f"created {len(location.sweep.trials)} trial(s):", markup=False)
    for trial in location.sweep.trials:
        err.print(f"  {location.sweep.project}/{location.sweep.type}/{trial.name}", markup=False)
    print_line(location.ref)


@sweep_app.command("run")
@with_slurm_flags(max_running=True)
def sweep_run_command(
    sweep: SweepArgument,
    on: OnOption = "local",
    parallel: ParallelOption = None,
    slurm: dict[str, Any] | None = None,  # the Slurm flags (with_slurm_flags)
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a sweep's trials that are not completed, running or queued: here (--on local) or as
    one Slurm job array (--on slurm). An Optuna sweep runs its slots not yet started or left
    interrupted; each asks the study at its start. Run it again to pick up what is left."""
    from abyssexp.runners.targets import plan_runs
    from abyssexp.sweeps.trials import resolve_sweep
    from abyssexp.training.plan import TrainOptions

    check_place(on)
    location = resolve_sweep(sweep, scratch_root(scratch))
    flags = slurm or {}
    if location.sweep.optuna is not None:
        done = _run_optuna(location, on or "local", parallel, flags, json_output)
    else:
        plan = plan_runs(scratch_root(scratch), [], TrainOptions(), sweep=str(location.path))
        if not plan.targets:
            err.print("nothing to run: every trial is completed, running or queued")
        done = launch(plan, TrainOptions(), on or "local", parallel, flags, json_output)
    if on != "slurm" and not json_output:  # submitted jobs have no results yet
        _print_winner(location, scratch_root(scratch))
    if not done:
        raise typer.Exit(1)


def _print_winner(location: SweepLocation, scratch: Path) -> None:
    """The best trial or group so far with its interval, and whether the runner-up is
    distinguishable from it (what `compare --sweep` ends with)."""
    from abyssexp.cli.compare_cmd import winner_lines
    from abyssexp.results.winners import sweep_winner

    groups = sweep_winner(scratch, location)
    for line in winner_lines(groups) if groups else []:
        print_line(line)


def _run_optuna(
    location: SweepLocation,
    on: str,
    parallel: int | None,
    flags: dict[str, Any],
    json_output: bool,
) -> bool:
    """An Optuna sweep's pending slots, here or as one Slurm array; False when a local trial
    failed."""
    from abyssexp.runners import optuna_slots

    if on == "slurm":
        from abyssexp.runners.slurm_jobs import SlurmOptions

        submitted = optuna_slots.submit_slots(location, SlurmOptions.resolve(flags))
        if json_output:
            print_json(submitted)
        for item in [] if json_output else submitted:
            print_line(f"submitted slot {item['slot']}: slurm job {item['job_id']}")
        if not submitted:
            err.print("nothing to run: every slot's trial is finished or running")
        return True

    def report(kind: str, index: int, info: dict[str, Any]) -> None:
        if kind == "start":
            err.print(f"started slot {index} on {info['device']}", markup=False)
        elif not json_output:
            print_line(f"{info['status']} {info['name']} (slot {index}, {info['seconds']:.0f} s)")

    runs = optuna_slots.run_slots_local(location, parallel, on_event=report)
    if not runs:
        err.print("nothing to run: every slot's trial is finished or running")
    if json_output:
        print_json([run.to_json() for run in runs])
    from abyssexp.schemas.record import Status

    return all(run.status in (Status.COMPLETED, Status.PRUNED) for run in runs)


@sweep_app.command("slot", hidden=True)
def sweep_slot_command(
    sweep: SweepArgument,
    index: Annotated[int, typer.Argument(help="The slot, 0..trials-1.")],
    scratch: ScratchOption = None,
) -> None:
    """Run one slot of an Optuna sweep: ask the study, create the trial, train it, tell the
    study (what `sweep run` starts for each slot, here or as a Slurm array task)."""
    from abyssexp.runners.optuna_slots import run_slot
    from abyssexp.sweeps.trials import resolve_sweep

    run = run_slot(resolve_sweep(sweep, scratch_root(scratch)), index)
    print_line(f"{run.status} {run.name} (slot {index}, exit {run.exit_code})")


@sweep_app.command("list")
def sweep_list_command(
    project: Annotated[str, typer.Argument(help="Project (glob).")] = "*",
    experiment_type: Annotated[str, typer.Argument(help="Experiment type (glob).")] = "*",
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the sweeps: id, trials, what they vary, when they were made."""
    from abyssexp.sweeps.trials import list_sweeps

    sweeps = list_sweeps(scratch_root(scratch), project, experiment_type)
    if json_output:
        print_json([{"sweep": s.ref, **s.sweep.to_json()} for s in sweeps])
        return
    if not sweeps:
        print_line("no sweeps")
        return
    cells = []
    for location in sweeps:
        sweep = location.sweep
        varied = [*sweep.grid, *sweep.random, *(sweep.optuna.space if sweep.optuna else {})]
        varied += [f"seeds={sweep.seeds}"] if sweep.seeds else []
        varied += [f"folds={sweep.folds}"] if sweep.folds else []
        created = sweep.created.replace("T", " ").removesuffix("Z")
        count = str(len(sweep.trials))
        count += f"/{sweep.optuna.trials} optuna" if sweep.optuna else ""
        cells.append([location.ref, count, " ".join(varied), created])
    columns = [
        Column("sweep", key=True),
        Column("trials"),
        Column("varies", 1),
        Column("created", 2),
    ]
    print_table(columns, cells, "sweeps")


@sweep_app.command("fold")
def sweep_fold_command(
    source: Annotated[Path, typer.Argument(help="The COCO training file to split.")],
    folds: Annotated[int, typer.Option("--folds", min=2, max=1000, help="K (2..1000).")] = 5,
    fold: Annotated[int, typer.Option("--fold", min=0, help="The held-out fold, 0..K-1.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split.")] = 0,
    train_out: Annotated[
        Path, typer.Option("--train-out", help="Where the other folds go.")
    ] = Path("coco.train.json"),
    val_out: Annotated[Path, typer.Option("--val-out", help="Where the fold goes.")] = Path(
        "coco.val.json"
    ),
    image_dir: Annotated[
        Path | None,
        typer.Option(
            "--image-dir", help="Images folder (default: found where export tools put them)."
        ),
    ] = None,
    group_by: FoldGroupOption = None,
) -> None:
    """Write one fold of a stratified K-fold split (what a fold trial's make-datasets.sh runs).
    Images of the same content stay in one fold."""
    from abyssexp.datasets.folds import write_fold

    train, val = write_fold(source, folds, fold, seed, train_out, val_out, image_dir, group_by)
    err.print(f"fold {fold} of {folds}: {train} training, {val} validation images", markup=False)


@app.command("cancel")
def cancel_command(
    refs: Annotated[
        list[str], typer.Argument(help="Experiments (REF) or sweeps (PROJECT/TYPE/sNNN, sNNN).")
    ],
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Stop queued and running runs: scancel for Slurm jobs (a running one stops after its batch
    and saves models/recovery.keras), SIGTERM for a local run of this machine."""
    from abyssexp.runners.cancel import cancel_runs

    done = cancel_runs(scratch_root(scratch), refs)
    if json_output:
        print_json([item.to_json() for item in done])
        return
    for item in done:
        print_line(f"{item.name}: {item.action}")

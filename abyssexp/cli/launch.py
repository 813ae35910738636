"""Options of ``train --on`` and ``sweep run --on``: where runs execute, and Slurm's resources."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from abyssexp.cli.console import err, print_json, print_line

if TYPE_CHECKING:
    from abyssexp.runners.targets import RunPlan, RunTarget
    from abyssexp.training.plan import TrainOptions

OnOption = Annotated[
    str | None,
    typer.Option(
        "--on",
        help="Where to run: local (this machine, --parallel N at once, one GPU each) or slurm "
        "(sbatch; a sweep is one job array).",
        show_default=False,
    ),
]
#: More runs at once than any machine has GPUs or cores for; past it a number overflows.
MAX_PARALLEL = 1024
ParallelOption = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        min=1,
        max=MAX_PARALLEL,
        help="--on local: runs at once (default: one per GPU; one at a time without GPUs).",
    ),
]
PartitionOption = Annotated[
    str | None, typer.Option("--partition", help="--on slurm: the partition.", show_default=False)
]
TimeOption = Annotated[
    str | None,
    typer.Option("--time", help="--on slurm: time limit per run (4:00:00).", show_default=False),
]
MemOption = Annotated[
    str | None, typer.Option("--mem", help="--on slurm: memory per run (16G).", show_default=False)
]
AccountOption = Annotated[
    str | None, typer.Option("--account", help="--on slurm: the account.", show_default=False)
]
CpusOption = Annotated[
    int | None,
    typer.Option(
        "--cpus", min=1, help="--on slurm: CPUs per run (--cpus-per-task).", show_default=False
    ),
]
SlurmGpusOption = Annotated[
    int | None,
    typer.Option(
        "--slurm-gpus",
        min=0,
        help="--on slurm: GPUs per job (--gres=gpu:N; default: training.gpus; 0 for CPU nodes).",
        show_default=False,
    ),
]
MaxRunningOption = Annotated[
    int | None,
    typer.Option(
        "--max-running",
        min=1,
        help="--on slurm: at most M trials of a sweep at once (--array=0-N%M).",
        show_default=False,
    ),
]
SbatchArgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--sbatch-arg", help="--on slurm: one more sbatch option (repeatable).", show_default=False
    ),
]

PLACES = ("local", "slurm")


def check_place(on: str | None) -> None:
    from abyssexp.errors import InvalidInputError

    if on is not None and on not in PLACES:
        raise InvalidInputError(f"--on: one of {', '.join(PLACES)}. Received: {on!r}")


#: The Slurm flags of ``train --on slurm`` and ``sweep run --on slurm``, declared once: option
#: name → (the key ``SlurmOptions.resolve`` takes, the option). ``max_running`` is a sweep's.
SLURM_FLAGS: dict[str, tuple[str, Any]] = {
    "partition": ("partition", PartitionOption),
    "time": ("time", TimeOption),
    "mem": ("mem", MemOption),
    "account": ("account", AccountOption),
    "cpus": ("cpus", CpusOption),
    "slurm_gpus": ("gpus", SlurmGpusOption),
    "max_running": ("max_running", MaxRunningOption),
    "sbatch_arg": ("sbatch_args", SbatchArgOption),
}


def with_slurm_flags(*, max_running: bool = False) -> Callable[[Callable], Callable]:
    """Give a command the Slurm flags in place of its ``slurm`` parameter, which receives them
    as one dict for ``SlurmOptions.resolve`` (``max_running``: with ``--max-running``).

    Typer reads the command's signature, so the flags show in ``--help`` where ``slurm`` stood.
    """
    names = [n for n in SLURM_FLAGS if max_running or n != "max_running"]

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)  # Typer reads real types
        flags = [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=SLURM_FLAGS[n][1])
            for n in names
        ]  # fmt: skip
        parameters = []
        for parameter in signature.parameters.values():
            if parameter.name == "slurm":
                parameters += flags
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {SLURM_FLAGS[n][0]: kwargs.pop(n) for n in names}
            given["sbatch_args"] = tuple(given.get("sbatch_args") or ())
            return command(**kwargs, slurm=given)

        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]  # inspect reads it
        return wrapper

    return decorate


def launch(
    plan: RunPlan,
    args: TrainOptions,
    on: str,
    parallel: int | None,
    slurm: dict[str, Any],
    json_output: bool,
) -> bool:
    """Run or submit the plan's targets and report; False when a local run did not complete."""
    for name, status in plan.skipped:
        err.print(f"skipped {name} ({status})", soft_wrap=True, markup=False)
    if on == "slurm":
        from abyssexp.runners.slurm_jobs import SlurmOptions, submit_runs

        submitted = submit_runs(plan, args, SlurmOptions.resolve(slurm))
        if json_output:
            print_json([s.to_json() for s in submitted])
            return True
        for item in submitted:
            print_line(f"submitted {item.name}: slurm job {item.job_id}")
        return True
    from abyssexp.runners.local import run_local

    def report(kind: str, target: RunTarget, info: dict[str, Any]) -> None:
        if kind == "start":
            err.print(f"started {target.name} on {info['device']}", soft_wrap=True, markup=False)
        elif not json_output:
            print_line(
                f"{info['status']} {target.name} (exit {info['exit_code']}, "
                f"{info['seconds']:.0f} s, {info['device']})"
            )

    runs = run_local(plan.targets, args, parallel, on_event=report)
    if json_output:
        print_json([run.to_json() for run in runs])
    from abyssexp.schemas.record import Status

    return all(run.status == Status.COMPLETED.value for run in runs)

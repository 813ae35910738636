"""What to run: experiments (or a sweep's trials), checked before anything starts or is submitted.

Every run, local or on Slurm, is the same command: ``python -m abyssexp train ROOT --quiet
--resume [the train options]``. ``--resume`` starts fresh when there is nothing to resume, and
continues from the last finished epoch after an interruption or a Slurm requeue, so the one
command is right for a first start and for every restart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.errors import ExperimentStateError
from abyssexp.experiment.jobs import apply_job_states
from abyssexp.experiment.layout import RECORD_FILE, ExperimentPaths
from abyssexp.experiment.refs import resolve_ref, split_location
from abyssexp.experiment.registry import experiment_row
from abyssexp.experiment.sweep import SweepLocation, resolve_sweep
from abyssexp.owned import check_tree
from abyssexp.schemas.record import Status
from abyssexp.schemas.resolve import parse_set_options

#: A sweep's trials in these states are left alone by ``sweep run`` (done, or already on their way).
NOT_RERUN = (Status.COMPLETED.value, Status.RUNNING.value, Status.QUEUED.value)


@dataclass(frozen=True)
class TrainArgs:
    """The ``train`` options passed on to every run."""

    set_items: tuple[str, ...] = ()
    epochs: int | None = None
    optimizer: str | None = None
    optimizer_args: str | None = None
    augmentation_configuration: str | None = None
    gpus: int | None = None

    def argv(self) -> list[str]:
        args: list[str] = []
        for item in self.set_items:
            args += ["--set", item]
        for flag, value in (
            ("--epochs", self.epochs),
            ("--optimizer", self.optimizer),
            ("--optimizer-args", self.optimizer_args),
            ("--augmentation-configuration", self.augmentation_configuration),
            ("--gpus", self.gpus),
        ):
            if value is not None:
                args += [flag, str(value)]
        return args

    def options(self, command_line: Sequence[str]) -> Any:
        from abyssexp.training.plan import TrainOptions

        return TrainOptions(
            overrides=parse_set_options(self.set_items),
            epochs=self.epochs,
            augmentation_configuration=self.augmentation_configuration,
            optimizer=self.optimizer,
            optimizer_args=self.optimizer_args,
            resume=True,
            gpus=self.gpus,
            command_line=list(command_line),
        )


@dataclass(frozen=True)
class RunTarget:
    """One experiment to train, and the GPUs its params ask for."""

    paths: ExperimentPaths
    name: str  # PROJECT/TYPE/NAME
    gpus: int = 1

    def command(self, args: TrainArgs, python: str | None = None) -> list[str]:
        root = str(self.paths.root)
        return [
            python or sys.executable,
            "-m",
            "abyssexp",
            "train",
            root,
            "--quiet",
            "--resume",
        ] + (args.argv())


@dataclass(frozen=True)
class RunPlan:
    """The runs to start, and the experiments left alone (with their status)."""

    targets: list[RunTarget]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    sweep: SweepLocation | None = None


def plan_runs(
    scratch: Path, refs: Sequence[str], args: TrainArgs, sweep: str | None = None
) -> RunPlan:
    """Resolve references (or a sweep's trials) and check each run as ``train`` would.

    Named experiments must be trainable (an error says why not); a sweep's trials that are
    completed, running or queued are skipped, so ``sweep run`` again picks up what is left.

    Raises:
        ExperimentNotFoundError: a reference or the sweep names nothing.
        ExperimentStateError: a named experiment is running, queued or has nothing left to train.
        InvalidInputError: a train option or a param is invalid.
    """
    location = resolve_sweep(sweep, scratch) if sweep else None
    roots = location.trial_roots() if location else [resolve_ref(r, scratch).root for r in refs]
    rows = []
    for root in dict.fromkeys(roots):
        check_tree(root)  # the link rule (owned.py): a trial reached through a link is refused
        if not (root / RECORD_FILE).is_file():
            raise ExperimentStateError(f"{root}: trial missing (removed or archived?)")
        project, experiment_type = split_location(ExperimentPaths(root))
        rows.append(experiment_row(project, experiment_type, root))
    apply_job_states(rows)  # queued/running on Slurm are not started again
    targets, skipped = [], []
    for row in rows:
        name = f"{row['project']}/{row['type']}/{row['name']}"
        if row["status"] in NOT_RERUN:
            if location is None:
                raise ExperimentStateError(
                    f"{name}: {row['status']}; nothing to start (`abyssexp cancel` stops a run)"
                )
            skipped.append((name, row["status"]))
            continue
        targets.append(_checked(Path(row["path"]), name, args))
    return RunPlan(targets, skipped, location)


def _checked(root: Path, name: str, args: TrainArgs) -> RunTarget:
    """``train``'s own plan, made here so a bad run fails before anything starts."""
    from abyssexp.training.plan import plan_training

    plan = plan_training(ExperimentPaths(root), args.options(["abyssexp", "train", str(root)]))
    return RunTarget(ExperimentPaths(root), name, gpus=plan.params.training.gpus)

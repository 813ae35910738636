"""What to run: experiments (or a sweep's trials), checked before anything starts or is submitted.

Every run, local or on Slurm, is the same command: ``python -m abyssexp train ROOT --quiet
--resume [the train options]``. ``--resume`` starts fresh when there is nothing to resume, and
continues from the last finished epoch after an interruption or a Slurm requeue, so the one
command is right for a first start and for every restart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from abyssexp.errors import ExperimentStateError
from abyssexp.experiment.jobs import apply_job_states
from abyssexp.experiment.layout import RECORD_FILE, ExperimentPaths
from abyssexp.experiment.list_rows import experiment_row
from abyssexp.experiment.refs import split_location
from abyssexp.owned import check_tree
from abyssexp.schemas.record import Status
from abyssexp.sweeps.selection import Selection, select_roots
from abyssexp.sweeps.trials import SweepLocation, resolve_sweep

if TYPE_CHECKING:
    from abyssexp.training.plan import TrainOptions

#: A sweep's trials in these states are left alone by ``sweep run`` (done, or already on their way).
NOT_RERUN = (Status.COMPLETED.value, Status.RUNNING.value, Status.QUEUED.value)


@dataclass(frozen=True)
class RunTarget:
    """One experiment to train, and the GPUs its params ask for."""

    paths: ExperimentPaths
    name: str  # PROJECT/TYPE/NAME
    gpus: int = 1

    def command(self, options: TrainOptions, python: str | None = None) -> list[str]:
        """``python -m abyssexp train ROOT --quiet --resume [options]``."""
        root = str(self.paths.root)
        head = [python or sys.executable, "-m", "abyssexp", "train", root, "--quiet"]
        return head + replace(options, resume=True).to_argv()


@dataclass(frozen=True)
class RunPlan:
    """The runs to start, and the experiments left alone (with their status)."""

    targets: list[RunTarget]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    sweep: SweepLocation | None = None


def plan_runs(
    scratch: Path, refs: Sequence[str], options: TrainOptions, sweep: str | None = None
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
    # A sweep's own trials only (``sweep run``), else the experiments named (``train``).
    selection = Selection(refs=() if location else tuple(refs), sweep=sweep)
    roots = select_roots(scratch, selection, "train: name experiments (REFS)", location)
    rows = []
    for root in roots:
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
        targets.append(_checked(Path(row["path"]), name, options))
    return RunPlan(targets, skipped, location)


def _checked(root: Path, name: str, options: TrainOptions) -> RunTarget:
    """``train``'s own plan, made here so a bad run fails before anything starts."""
    from abyssexp.training.plan import plan_training

    run = replace(options, resume=True, command_line=["abyssexp", "train", str(root)])
    plan = plan_training(ExperimentPaths(root), run)
    return RunTarget(ExperimentPaths(root), name, gpus=plan.params.training.gpus)

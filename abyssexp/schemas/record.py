"""``record.json``: an experiment's status and results, the small file ``list`` reads.

Statuses and their meaning live here and nowhere else; the transitions that change them are in
``abyssexp.experiment.record_file`` (one function each). Unknown fields are kept (a newer abyssexp may
add some), but a known field of the wrong type makes the record *unreadable*: ``list`` shows that
experiment as ``unreadable`` with the reason and every other experiment normally, and commands that
write the record stop with a message instead of overwriting it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from abyssexp.schemas.results import ConditionSummary

RECORD_VERSION = 1


class Status(StrEnum):
    """What ``list`` and ``show`` say about an experiment."""

    NEW = "new"
    """Created by ``new``; not trained yet."""
    RUNNING = "running"
    """A ``train`` process holds the experiment and its heartbeat is fresh."""
    COMPLETED = "completed"
    """Every planned epoch finished."""
    FAILED = "failed"
    """Training raised an error after it started (the record's ``error`` says which)."""
    INTERRUPTED = "interrupted"
    """Stopped by Ctrl-C or SIGTERM; ``train --resume`` continues."""
    PRUNED = "pruned"
    """Stopped early by the pruner of an Optuna sweep (``--pruner median``): its metric was worse
    than the other trials' at the same epoch (the record's ``error`` says when)."""
    CRASHED = "crashed"
    """Shown for a ``running`` record whose process is gone or whose heartbeat is stale, and for
    an experiment whose Slurm job ended (cancelled, timed out, killed, out of memory, node
    failure) before training could record why; Slurm's reason is shown with it."""
    QUEUED = "queued"
    """Shown while the experiment's Slurm job is pending (``squeue``); never stored."""
    UNREADABLE = "unreadable"
    """Shown when record.json is missing or does not parse; ``show`` gives the reason."""


class BestMetric(BaseModel):
    """The best value of the monitored metric so far."""

    model_config = ConfigDict(extra="allow")
    metric: str
    value: float | None = None
    epoch: int | None = None


class Promotion(BaseModel):
    """One promotion of this experiment to the store."""

    model_config = ConfigDict(extra="allow")
    path: str
    checkpoint: str | None = None
    aliases: list[str] = Field(default_factory=list)
    time: str | None = None


class ParamsChange(BaseModel):
    """Params a ``train`` command line changed (``--epochs``, ``--set``...), with that line."""

    model_config = ConfigDict(extra="allow")
    time: str
    command_line: list[str] = Field(default_factory=list)
    changes: dict[str, dict[str, Any]] = Field(default_factory=dict)


class DataOverride(BaseModel):
    """A data problem ``new`` was told to accept (``--force-data``, ``--allow-leaks``)."""

    model_config = ConfigDict(extra="allow")
    flag: str = Field(description="The flag that accepted it.")
    problems: list[str] = Field(
        default_factory=list, description="What it accepted, one line each."
    )


class SlurmJob(BaseModel):
    """The Slurm job that runs (or ran) this experiment, written when it is submitted."""

    model_config = ConfigDict(extra="allow")
    job_id: str = Field(description="The id to give squeue/scancel: `1234` or `1234_5` (array).")
    submitted: str = Field(description="When it was submitted (UTC, ISO 8601).")
    script: str | None = Field(None, description="The job script (logs/slurm.sh).")
    sweep: str | None = Field(None, description="The sweep it was submitted with, if any.")


class Record(BaseModel):
    """The experiment record; written only through ``abyssexp.experiment.record_file``."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    record_version: int = Field(RECORD_VERSION, description="Version of this file's layout.")
    project: str | None = None
    type: str | None = None
    name: str | None = None
    number: int | None = None
    created: str | None = None
    user: str | None = None
    parent: str | None = None
    note: str | None = ""
    tags: list[str] = Field(
        default_factory=list, description="Labels set by `abyssexp tag` (sorted, unique)."
    )
    status: Status = Status.NEW
    epochs_done: int = 0
    epochs_total: int | None = None
    pid: int | None = None
    pid_start: int | None = Field(
        default=None,
        description="Start time of the training process (clock ticks since boot, /proc): "
        "`cancel` signals the pid only while it still names this process.",
    )
    host: str | None = None
    heartbeat_unix: float | None = None
    started: str | None = None
    finished: str | None = None
    train_seconds: float | None = Field(
        None,
        description="Seconds spent fitting, summed over every `train` of this experiment "
        "(a resumed run adds to it).",
    )
    train_images: int | None = Field(
        None, description="Images trained on, summed over every `train` of this experiment."
    )
    error: str | None = None
    disk_bytes: int | None = None
    best: BestMetric | None = None
    last_metrics: dict[str, float] | None = None
    tests: dict[str, ConditionSummary] = Field(default_factory=dict)
    promotions: list[Promotion] = Field(default_factory=list)
    params_changes: list[ParamsChange] = Field(
        default_factory=list,
        description="Every change a train command line made to params.json, oldest first.",
    )

    data_warnings: list[str] = Field(
        default_factory=list,
        description="Warnings about the data found by `new` (small data), kept with the results.",
    )
    data_overrides: list[DataOverride] = Field(
        default_factory=list,
        description="Data problems `new` was told to accept; `train` starts despite them.",
    )
    sweep: str | None = Field(
        None, description="The sweep this experiment is a trial of (`PROJECT/TYPE/sNNN`)."
    )
    slurm: SlurmJob | None = Field(
        None, description="The latest Slurm job submitted for it (`train --on slurm`)."
    )

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data, fields not set left out as before."""
        return self.model_dump(mode="json", exclude_unset=True)

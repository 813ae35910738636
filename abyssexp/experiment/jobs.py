"""Listing rows and Slurm: the state of every listed experiment's job, read in one go.

``list``, ``compare`` and ``show`` call ``apply_job_states`` on their rows: one ``squeue`` (and one
``sacct``, or ``scontrol show job`` where Slurm keeps no accounting) for all of them, never one
call per experiment. Rows without a Slurm job cost nothing, and a machine without Slurm lists
from the records alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypedDict

from abyssexp.experiment.record_file import status_with_job
from abyssexp.slurm import SlurmError, query_jobs

log = logging.getLogger(__name__)


class JobRow(TypedDict):
    """What ``apply_job_states`` reads and sets of a row (a ``ListRow`` has these fields)."""

    status: str
    started: str | None
    slurm: dict[str, str | None] | None
    status_reason: str | None


def apply_job_states(rows: Sequence[JobRow]) -> None:
    """Set ``status`` and ``status_reason`` of rows whose record names a Slurm job (in place).

    Slurm not answering is logged and the records' own statuses are kept: a listing never fails
    because the controller is down.
    """
    ids = {str(job["job_id"]) for row in rows if (job := row["slurm"])}
    if not ids:
        return
    try:
        states = query_jobs(ids)
    except SlurmError as exc:
        log.warning("Slurm job states unavailable: %s", exc)
        return
    for row in rows:
        if job := row["slurm"]:
            row["status"], row["status_reason"] = status_with_job(
                row["status"], row["started"], str(job["submitted"]), states.get(str(job["job_id"]))
            )

"""``abyssexp cancel REF|SWEEP``: stop queued and running runs, on Slurm or on this machine.

Slurm jobs still queued or running are cancelled with one ``scancel``: a pending job never starts
(the experiment shows ``crashed``, reason ``CANCELLED``); a running one gets SIGTERM, so training
stops after its batch and saves ``models/recovery.keras`` (``interrupted``; ``train --resume`` or
``sweep run`` continues it). A local run of this host gets the same SIGTERM by its pid, once
that pid is checked to be ``abyssexp train`` of the experiment (``processes.runs_abyssexp``).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record_file import LoadedRecord, load_record
from abyssexp.processes import runs_abyssexp, this_host
from abyssexp.schemas.record import Record, Status
from abyssexp.slurm import cancel, query_jobs
from abyssexp.sweeps.selection import Selection, select_roots


@dataclass(frozen=True)
class Cancelled:
    """What ``cancel`` did to one experiment."""

    name: str
    action: str  # "scancel JOB", "SIGTERM to pid N", or "nothing to stop (STATUS)"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def cancel_runs(scratch: Path, refs: list[str]) -> list[Cancelled]:
    """Stop every queued or running run of the experiments and sweeps named.

    Raises:
        ExperimentNotFoundError: a reference names nothing.
        SlurmError: ``scancel`` refused.
    """
    selection = Selection(refs=tuple(refs), sweeps_as_refs=True)
    roots = select_roots(scratch, selection, "cancel: name experiments or sweeps (REFS)")
    records = {root: load_record(ExperimentPaths(root).record) for root in roots}
    jobs = {
        root: loaded.record.slurm.job_id
        for root, loaded in records.items()
        if loaded.record and loaded.record.slurm
    }
    states = query_jobs(jobs.values()) if jobs else {}
    active = {root: job for root, job in jobs.items() if job in states and states[job].active}
    cancel(active.values())
    done = []
    for root, loaded in records.items():
        name = f"{root.parent.parent.name}/{root.parent.name}/{root.name}"
        if root in active:
            done.append(Cancelled(name, f"scancel {active[root]}"))
        elif loaded.record is not None and _local_run(loaded):
            done.append(Cancelled(name, _signal_run(root, loaded.record)))
        else:
            done.append(Cancelled(name, f"nothing to stop ({loaded.status})"))
    return done


def _signal_run(root: Path, record: Record) -> str:
    """SIGTERM to the recorded training process, only while its pid still names it: the start
    time recorded with the pid matches ``/proc``, and the process is ``abyssexp train`` holding
    this folder's training lock. A reused pid or a planted record is left alone."""
    if not runs_abyssexp(record.pid, record.pid_start, "train", ExperimentPaths(root).train_lock):
        return (
            f"nothing to stop: pid {record.pid} is not `abyssexp train` of this folder (it "
            "ended, or its pid was reused)"
        )
    os.kill(int(record.pid or 0), signal.SIGTERM)
    return f"SIGTERM to pid {record.pid}"


def _local_run(loaded: LoadedRecord) -> bool:
    record = loaded.record
    return (
        record is not None
        and loaded.status == Status.RUNNING.value
        and record.host == this_host()
        and bool(record.pid)
    )

"""Running an Optuna sweep's slots: one slot asks, creates, trains and tells one trial.

A slot is ``python -m abyssexp sweep slot REF INDEX``: it asks the study for trial ``INDEX``
(``start_slot``), trains the experiment in a child process (``abyssexp train ROOT --quiet
--resume``, output in the trial's ``logs/slot.log``) and tells the study how it ended
(``finish_slot``). The child being a process of its own is what lets a killed training be told
``fail``: the slot sees it die. ``--on local`` runs the pending slots here, ``parallel`` at a time
(one per GPU); ``--on slurm`` submits them as one job array whose task ``i`` is slot ``i``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abyssexp.atomic import atomic_write_text
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.naming import format_number
from abyssexp.experiment.numbering import claim_next_number
from abyssexp.experiment.record_file import utc_now
from abyssexp.runners.local import POLL_S, _device, _environment, plan_slots, visible_gpus
from abyssexp.runners.targets import RunTarget
from abyssexp.schemas.record import SlurmJob, Status
from abyssexp.sweeps.optuna_search import finish_slot, pending_slots, start_slot, study_path
from abyssexp.sweeps.optuna_study import check_journal
from abyssexp.sweeps.trials import SweepLocation
from abyssexp.training.plan import TrainOptions

if TYPE_CHECKING:
    from abyssexp.runners.slurm_jobs import SlurmOptions

SLOT_LOG = "slot.log"


@dataclass
class SlotRun:
    """One slot that ran: its trial, how training ended and what the study was told."""

    index: int
    name: str
    status: str
    exit_code: int | None
    seconds: float
    device: str = "cpu"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _slurm_fields() -> dict[str, Any]:
    """The array task as the trial's Slurm job, so ``list`` follows it like any trial."""
    job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if not (job and task):
        return {}
    job_id = f"{job}_{task}"
    return {"slurm": SlurmJob(job_id=job_id, submitted=utc_now()).model_dump(mode="json")}


def run_slot(location: SweepLocation, index: int) -> SlotRun:
    """Ask (or resume) slot ``index``'s trial, train it in a child process and tell the study.

    SIGTERM and SIGINT are passed to the training, which stops after its batch (``interrupted``:
    the trial stays open, and runs on from its last epoch when the slot runs again).
    """
    start = start_slot(location, index, _slurm_fields())
    paths = ExperimentPaths(start.root)
    paths.logs.mkdir(parents=True, exist_ok=True)
    command = RunTarget(paths, start.name).command(TrainOptions())
    started = time.monotonic()
    with open(paths.logs / SLOT_LOG, "ab") as log:
        child = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

        def forward(signum: int, frame: Any) -> None:
            child.send_signal(signal.SIGTERM)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            code = child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    status = finish_slot(location, start)
    return SlotRun(index, start.name, status, code, time.monotonic() - started)


def run_slots_local(
    location: SweepLocation, parallel: int | None = None, on_event: Any = None
) -> list[SlotRun]:
    """Run every pending slot here, ``parallel`` at a time (default: one per GPU, or one)."""
    check_journal(study_path(location))  # refused once here, not by every slot
    slots = plan_slots(parallel, visible_gpus())
    free, waiting = list(range(len(slots))), pending_slots(location)
    running: dict[int, tuple[subprocess.Popen, int, float]] = {}
    done: list[SlotRun] = []
    notify = on_event or (lambda *_: None)
    try:
        while waiting or running:
            while waiting and free:
                slot, index = free.pop(0), waiting.pop(0)
                running[slot] = (
                    _start_slot(location, index, slots[slot], len(slots)),
                    index,
                    time.monotonic(),
                )
                notify("start", index, {"device": _device(slots[slot])})
            for slot, (process, index, started) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[slot]
                free.append(slot)
                done.append(_slot_result(location, index, process, started, slots[slot]))
                notify("end", index, done[-1].to_json())
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        for process, *_ in running.values():
            process.send_signal(signal.SIGTERM)  # each slot passes it to its training
        for process, *_ in running.values():
            process.wait()
        raise
    return done


def _start_slot(
    location: SweepLocation, index: int, slot: str | None, slots: int
) -> subprocess.Popen:
    runs = location.path.parent / f"{location.sweep.id}.runs"
    runs.mkdir(exist_ok=True)
    log = open(runs / f"slot-{index}.log", "ab")  # noqa: SIM115 - the child holds it
    with log:
        return subprocess.Popen(
            [sys.executable, "-m", "abyssexp", "sweep", "slot", str(location.path), str(index)],
            env=_environment(slot, slots),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches this runner, which stops each slot once
        )


def _slot_result(
    location: SweepLocation, index: int, process: subprocess.Popen, started: float, slot: str | None
) -> SlotRun:
    """What slot ``index`` made and how it ended, read back from the sweep file and record."""
    from abyssexp.experiment.layout import RECORD_FILE
    from abyssexp.experiment.record_file import load_record
    from abyssexp.sweeps.trials import load_sweep

    current = SweepLocation(location.path, load_sweep(location.path))
    sweep = current.sweep
    made = zip(sweep.trials, current.trial_roots(), strict=True)
    trial, root = next(((t, r) for t, r in made if t.index == index), (None, None))
    seconds = time.monotonic() - started
    if trial is None or root is None:  # the slot failed before it made its trial (see its log)
        failed = Status.FAILED.value
        return SlotRun(index, "-", failed, process.returncode, seconds, _device(slot))
    status = load_record(root / RECORD_FILE).status
    name = f"{sweep.project}/{sweep.type}/{trial.name}"
    return SlotRun(index, name, status, process.returncode, seconds, _device(slot))


def submit_slots(location: SweepLocation, options: SlurmOptions) -> list[dict[str, Any]]:
    """The pending slots as one Slurm job array (task ``i`` runs slot ``i``)."""
    from abyssexp.slurm import submit

    pending = pending_slots(location)
    if not pending:
        return []
    runs = location.path.parent / f"{location.sweep.id}.runs"
    runs.mkdir(parents=True, exist_ok=True)
    number, _claim = claim_next_number(runs)
    run_dir = runs / format_number(number)
    run_dir.mkdir(parents=True)
    gpus = options.gpus if options.gpus is not None else 1
    limit = f"%{options.max_running}" if options.max_running else ""
    logs = f"{run_dir}/slot-%a-%A"
    command = [sys.executable, "-m", "abyssexp", "sweep", "slot", str(location.path)]
    from abyssexp.runners.slurm_jobs import _environment_lines

    lines = [
        "#!/bin/bash",
        f"# abyssexp: Optuna sweep {location.ref}, {len(pending)} slot(s) (written {utc_now()}).",
        "# Task i asks the study for slot i's trial, trains it and tells the study how it ended.",
        f"#SBATCH --array={','.join(str(i) for i in pending)}{limit}",
        *options.sbatch_lines(gpus, f"abyssexp:{location.ref}", f"{logs}.out", f"{logs}.err"),
        "set -euo pipefail",
        *_environment_lines(),
        f'exec {shlex.join(command)} "$SLURM_ARRAY_TASK_ID"',
        "",
    ]
    script = run_dir / "array.sh"
    atomic_write_text(script, "\n".join(lines))
    job_id = submit(str(script))
    return [{"slot": i, "job_id": f"{job_id}_{i}", "script": str(script)} for i in pending]

"""The Slurm client: every Slurm command abyssexp runs goes through ``run_slurm``.

This module knows Slurm, not experiments: submit a script, read the state of many jobs at once,
cancel jobs. Reading state costs a constant number of commands whatever the number of jobs: one
``squeue`` for the jobs still queued or running, one ``sacct`` for those that ended; where ``sacct``
has no accounting to read (a cluster without slurmdbd), one ``scontrol show job`` instead, which
remembers finished jobs for ``MinJobAge`` seconds.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from abyssexp.errors import AbyssExpError

log = logging.getLogger(__name__)

#: Seconds any one Slurm command may take before we give up on the controller.
COMMAND_TIMEOUT_S = 60.0
#: Job states of a job that has not started yet, or waits to start again.
PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING"})
#: Job states of a job whose processes are (still) there.
RUNNING_STATES = frozenset(
    {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
)


class SlurmError(AbyssExpError):
    """A Slurm command is missing, refused what we asked, or did not answer."""


@dataclass(frozen=True)
class JobState:
    """What Slurm says about one job (an array task is one job)."""

    job_id: str
    state: str
    reason: str = ""
    exit_code: str = ""
    raw_id: str = ""

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def active(self) -> bool:
        return self.pending or self.state in RUNNING_STATES

    def describe(self) -> str:
        """One short phrase: ``CANCELLED``, ``TIMEOUT``, ``FAILED (exit 2)``,
        ``FAILED (killed by signal 9)``, ``PENDING (Resources)``."""
        text = self.state
        code, _, signal = self.exit_code.partition(":")
        if signal not in ("", "0"):
            text += f" (killed by signal {signal})"
        elif code not in ("", "0") and self.state != "CANCELLED":
            text += f" (exit {code})"
        elif self.pending and self.reason not in ("", "None"):
            text += f" ({self.reason})"
        return text


def run_slurm(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one Slurm command (``sbatch``, ``squeue``, ``sacct``, ``scontrol``, ``scancel``).

    Raises:
        SlurmError: the command is not installed, timed out, or (with ``check``) failed; the
            message holds Slurm's own first line.
    """
    if shutil.which(args[0]) is None:
        raise SlurmError(
            f"{args[0]}: not found on PATH; run this on a Slurm login node (or without --on slurm)"
        )
    log.debug("slurm: %s", " ".join(args))
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise SlurmError(
            f"{args[0]}: no answer within {COMMAND_TIMEOUT_S:.0f} s; is slurmctld up (`sinfo`)?"
        ) from None
    if check and done.returncode != 0:
        first = (done.stderr.strip() or done.stdout.strip() or "no message").splitlines()[0]
        raise SlurmError(f"{args[0]} failed (exit {done.returncode}): {first}")
    return done


def submit(script: str, extra_args: Sequence[str] = ()) -> str:
    """``sbatch --parsable [extra_args] script``; returns the job id (``1234``)."""
    done = run_slurm(["sbatch", "--parsable", *extra_args, script])
    job_id = done.stdout.strip().split(";", 1)[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch: expected a job id, got {done.stdout.strip()!r:.80}")
    return job_id


def cancel(job_ids: Iterable[str], *, signal: str | None = None, batch: bool = False) -> None:
    """``scancel`` the jobs, in one command. With ``signal`` the jobs are signalled, not
    cancelled (``batch`` sends it to the batch shell, where abyssexp's ``train`` runs)."""
    ids = sorted(set(job_ids))
    if not ids:
        return
    args = ["scancel"]
    if signal:
        args.append(f"--signal={signal}")
    if batch:
        args.append("--batch")
    run_slurm([*args, *ids])


def _base_ids(job_ids: Iterable[str]) -> list[str]:
    """``1234_5`` → ``1234``: an array is queried once for all its tasks."""
    return sorted({job_id.split("_", 1)[0] for job_id in job_ids}, key=_numeric)


def _numeric(job_id: str) -> tuple[int, str]:
    head = job_id.split("_", 1)[0]
    return (int(head) if head.isdigit() else 0, job_id)


def query_jobs(job_ids: Iterable[str]) -> dict[str, JobState]:
    """The state of every job asked for that Slurm still knows, keyed by the ids given.

    At most three commands whatever the number of jobs: ``squeue`` for the queued and running
    ones, then ``sacct`` for the others, or ``scontrol show job`` where accounting is disabled.
    Returns ``{}`` where Slurm is not installed.
    """
    wanted = set(job_ids)
    if not wanted or shutil.which("squeue") is None:
        return {}
    base = _base_ids(wanted)
    found = _pick(_squeue(base), wanted)
    left = wanted - set(found)
    if left:
        ended = _sacct(_base_ids(left))
        if ended is None:
            ended = _scontrol_jobs()
        found.update(_pick(ended, left))
    return found


def _pick(states: Iterable[JobState], wanted: set[str]) -> dict[str, JobState]:
    found: dict[str, JobState] = {}
    for state in states:
        for key in (state.job_id, state.raw_id):
            if key in wanted:
                found[key] = state
    return found


def _squeue(base_ids: list[str]) -> list[JobState]:
    done = run_slurm(
        ["squeue", "--noheader", "--array", "--format=%i|%A|%T|%r", f"--jobs={','.join(base_ids)}"],
        check=False,
    )
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:
            return []  # none of them is queued any more
        raise SlurmError(f"squeue failed: {done.stderr.strip()[:200]}")
    states = []
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4:
            states.append(JobState(parts[0], parts[2], reason=parts[3], raw_id=parts[1]))
    return states


def _sacct(base_ids: list[str]) -> list[JobState] | None:
    """Ended jobs from accounting; None when this cluster keeps none (no slurmdbd)."""
    done = run_slurm(
        [
            "sacct",
            "--noheader",
            "--parsable2",
            "--allocations",
            "--format=JobID,JobIDRaw,State,ExitCode",
            f"--jobs={','.join(base_ids)}",
        ],
        check=False,
    )
    if done.returncode != 0 or "accounting storage is disabled" in (done.stdout + done.stderr):
        return None
    states = []
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4:
            state = parts[2].split(" ", 1)[0]  # "CANCELLED by 0" → "CANCELLED"
            states.append(JobState(parts[0], state, exit_code=parts[3], raw_id=parts[1]))
    return states


_FIELD_RE = re.compile(r"(\w+)=(\S*)")


def _scontrol_jobs() -> list[JobState]:
    """Every job slurmctld remembers, one ``scontrol show job --oneliner``."""
    done = run_slurm(["scontrol", "--oneliner", "show", "job"], check=False)
    states = []
    for line in done.stdout.splitlines():
        fields = dict(_FIELD_RE.findall(line))
        if "JobId" not in fields or "JobState" not in fields:
            continue
        raw = fields["JobId"]
        task = fields.get("ArrayTaskId", "")
        job_id = f"{fields['ArrayJobId']}_{task}" if task and task.isdigit() else raw
        states.append(
            JobState(
                job_id,
                fields["JobState"],
                reason=fields.get("Reason", ""),
                exit_code=fields.get("ExitCode", ""),
                raw_id=raw,
            )
        )
    return states

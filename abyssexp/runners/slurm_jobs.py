"""``--on slurm``: a job script in each experiment, submitted with ``sbatch``; a sweep as one array.

Each experiment gets ``logs/slurm.sh``: the ``#SBATCH`` resources, then ``exec`` of the exact
``abyssexp train ROOT --quiet --resume ...`` command, so Slurm's signals reach Python itself:
``scancel``, a requeue and ``--signal=B:TERM@<grace>`` before the time limit all end training
cleanly after the current batch (``models/recovery.keras``, status ``interrupted``), and
``--requeue`` lets the same script continue from the last finished epoch. Slurm writes the job's
stdout and stderr to ``logs/slurm-<job>.out|.err``.

A sweep is one job array (``--array=0-N%M``); its script, in ``.sweeps/<id>.runs/<NNN>/``, runs
task ``i``'s ``logs/slurm.sh``, and writes its output through ``tasks/<i>``, a link to the trial's
folder, so every trial's Slurm logs are in its own ``logs/``.

Resources come from the command line, else the user config's ``[slurm]`` table, else defaults
(``SlurmOptions.resolve``, the one place for that precedence).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from abyssexp.atomic import atomic_write_text
from abyssexp.config import config_section
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.layout import SWEEPS_DIR
from abyssexp.experiment.naming import format_number
from abyssexp.experiment.numbering import claim_next_number
from abyssexp.experiment.record_file import record_submission, utc_now
from abyssexp.runners.targets import RunPlan, RunTarget

if TYPE_CHECKING:
    from abyssexp.training.plan import TrainOptions
from abyssexp.schemas.record import SlurmJob
from abyssexp.slurm import submit

#: Variables a job must see as the submitting shell did: the same abyssexp, roots and cluster.
PASSED_ENVIRONMENT = (
    "PYTHONPATH",
    "ABYSSEXP_SCRATCH",
    "ABYSSEXP_STORE",
    "ABYSSEXP_CONFIG",
    "SLURM_CONF",
    "TF_CPP_MIN_LOG_LEVEL",
)
_TIME_RE = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$|^\d+-\d+$")
_MEM_RE = re.compile(r"^\d+[KMGT]?$")


@dataclass(frozen=True)
class SlurmOptions:
    """Resources and behaviour of the jobs (``sbatch`` options)."""

    partition: str | None = None
    time: str | None = None
    mem: str | None = None
    account: str | None = None
    cpus: int | None = None
    gpus: int | None = None  # per job; None: the experiment's training.gpus
    max_running: int | None = None  # the %M of --array=0-N%M
    signal_grace: int = 60  # seconds before the time limit that SIGTERM is sent
    sbatch_args: tuple[str, ...] = ()

    @classmethod
    def resolve(cls, flags: Mapping[str, Any]) -> SlurmOptions:
        """Command-line ``flags`` (None: not given) over the config's ``[slurm]`` over defaults.

        Raises:
            InvalidInputError: an unknown key in ``[slurm]``, or a value of the wrong form.
        """
        config, path = config_section("slurm")
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - valid)
        if unknown:
            raise InvalidInputError(
                f"{path}: unknown key(s) in [slurm]: {', '.join(unknown)} "
                f"(valid: {', '.join(sorted(valid))})"
            )
        merged: dict[str, Any] = {**config}
        merged.update({k: v for k, v in flags.items() if v is not None and v != ()})
        if "sbatch_args" in merged:
            merged["sbatch_args"] = tuple(str(a) for a in merged["sbatch_args"])
        options = cls(**merged)
        options.check()
        return options

    def check(self) -> None:
        if self.time is not None and not _TIME_RE.match(str(self.time)):
            raise InvalidInputError(
                f"--time: a Slurm time such as 30, 4:00:00 or 1-12:00:00. Received: {self.time!r}"
            )
        if self.mem is not None and not _MEM_RE.match(str(self.mem)):
            raise InvalidInputError(f"--mem: a size such as 16G or 4000M. Received: {self.mem!r}")
        for name in ("cpus", "gpus", "max_running", "signal_grace"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise InvalidInputError(f"slurm {name}: a whole number >= 0. Received: {value!r}")

    def sbatch_lines(self, gpus: int, job_name: str, output: str, error: str) -> list[str]:
        """The ``#SBATCH`` lines, resources first."""
        lines = [f"--job-name={job_name}", f"--output={output}", f"--error={error}"]
        if gpus:
            lines.append(f"--gres=gpu:{gpus}")
        for flag, value in (
            ("--cpus-per-task", self.cpus),
            ("--mem", self.mem),
            ("--time", self.time),
            ("--partition", self.partition),
            ("--account", self.account),
        ):
            if value is not None:
                lines.append(f"{flag}={value}")
        lines += [
            f"--signal=B:TERM@{self.signal_grace}",  # B: the batch shell, which is Python
            "--requeue",
            "--open-mode=append",  # a requeued run adds to the same logs
            *self.sbatch_args,
        ]
        return [f"#SBATCH {shlex.quote(line)}" for line in lines]


@dataclass(frozen=True)
class Submitted:
    """One experiment handed to Slurm."""

    name: str
    job_id: str
    script: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _environment_lines() -> list[str]:
    return [
        f"export {key}={shlex.quote(os.environ[key])}"
        for key in PASSED_ENVIRONMENT
        if os.environ.get(key)
    ]


def job_script(target: RunTarget, train: TrainOptions, options: SlurmOptions) -> str:
    """The text of the experiment's ``logs/slurm.sh``."""
    logs = target.paths.logs
    gpus = target.gpus if options.gpus is None else options.gpus
    command = shlex.join(target.command(train, python=sys.executable))
    return "\n".join(
        [
            "#!/bin/bash",
            f"# abyssexp: train {target.name} on Slurm (written {utc_now()}).",
            "# sbatch this file to run it alone; `abyssexp train REF --on slurm` does.",
            *options.sbatch_lines(
                gpus, f"abyssexp:{target.name}", f"{logs}/slurm-%j.out", f"{logs}/slurm-%j.err"
            ),
            "set -euo pipefail",
            *_environment_lines(),
            f"cd {shlex.quote(str(target.paths.root))}",
            "# exec: Slurm's SIGTERM (scancel, requeue, time limit) reaches training itself, which",
            "# stops after the current batch; --resume continues from the last finished epoch.",
            f"exec {command}",
            "",
        ]
    )


def submit_runs(plan: RunPlan, train: TrainOptions, options: SlurmOptions) -> list[Submitted]:
    """Write each target's ``logs/slurm.sh`` and submit: one array for a sweep, else one job
    per experiment. Each record gets its job id (``record_submission``)."""
    for target in plan.targets:
        atomic_write_text(target.paths.slurm_script, job_script(target, train, options))
        os.chmod(target.paths.slurm_script, 0o755)
    if not plan.targets:
        return []
    if plan.sweep is None:
        return [_submit_one(target, options) for target in plan.targets]
    return _submit_array(plan, options)


def _submit_one(target: RunTarget, options: SlurmOptions) -> Submitted:
    submitted = utc_now()  # before sbatch: the job may start before sbatch returns
    job_id = submit(str(target.paths.slurm_script))
    record_submission(
        target.paths.record,
        SlurmJob(job_id=job_id, submitted=submitted, script=str(target.paths.slurm_script)),
    )
    return Submitted(target.name, job_id, str(target.paths.slurm_script))


def _submit_array(plan: RunPlan, options: SlurmOptions) -> list[Submitted]:
    location = plan.sweep
    assert location is not None
    runs = location.type_dir / SWEEPS_DIR / f"{location.sweep.id}.runs"
    runs.mkdir(parents=True, exist_ok=True)
    number, _claim = claim_next_number(runs)
    run_dir = runs / format_number(number)
    tasks = run_dir / "tasks"
    tasks.mkdir(parents=True)
    for index, target in enumerate(plan.targets):
        os.symlink(target.paths.root, tasks / str(index))
    gpus = options.gpus if options.gpus is not None else max(t.gpus for t in plan.targets)
    last = len(plan.targets) - 1
    limit = f"%{options.max_running}" if options.max_running else ""
    logs = f"{tasks}/%a/logs/slurm-%A_%a"
    scripts = " ".join(shlex.quote(str(t.paths.slurm_script)) for t in plan.targets)
    script = run_dir / "array.sh"
    lines = [
        "#!/bin/bash",
        f"# abyssexp: sweep {location.ref}, {len(plan.targets)} trial(s) (written {utc_now()}).",
        f"#SBATCH --array=0-{last}{limit}",
        *options.sbatch_lines(gpus, f"abyssexp:{location.ref}", f"{logs}.out", f"{logs}.err"),
        "set -euo pipefail",
        f"TASKS=({scripts})",
        'exec bash "${TASKS[$SLURM_ARRAY_TASK_ID]}"',
        "",
    ]
    atomic_write_text(script, "\n".join(lines))
    when = utc_now()  # before sbatch: a task may start before sbatch returns
    job_id = submit(str(script))
    submitted = []
    for index, target in enumerate(plan.targets):
        task_id = f"{job_id}_{index}"
        job = SlurmJob(
            job_id=task_id,
            submitted=when,
            script=str(target.paths.slurm_script),
            sweep=location.ref,
        )
        record_submission(target.paths.record, job)
        submitted.append(Submitted(target.name, task_id, str(script)))
    return submitted

"""``sweep new --search optuna``: a study whose trials are made when a slot starts them.

``sweep new`` checks the space, writes an empty study (``.sweeps/sNNN.optuna.journal``) and the
sweep file, which records N slots and how to make a trial; no experiment exists yet. When slot
``i`` starts (``sweep run`` here, or Slurm array task ``i``), ``start_slot`` asks the study for
values and creates trial ``i`` as an ordinary numbered experiment through the same creation code
as every sweep trial, under the sweep's lock. When its training ends, ``finish_slot`` tells the
study: the best value of the metric from ``logs/history.csv`` for a completed trial, ``PRUNED``
for a pruned one, ``FAIL`` for one that failed or was killed. An interrupted trial stays open:
``sweep run`` again resumes it in its slot.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp import metric_direction
from abyssexp.atomic import atomic_write_json
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.create import publish_experiment, stage_experiment
from abyssexp.experiment.history import best_in_history
from abyssexp.experiment.layout import RECORD_FILE, SWEEPS_DIR, ExperimentPaths
from abyssexp.experiment.naming import format_number, validate_part
from abyssexp.experiment.numbering import claim_next_number, release_claim
from abyssexp.experiment.provenance import current_user
from abyssexp.experiment.record_file import load_record, utc_now
from abyssexp.experiment.refs import resolve_ref, split_location
from abyssexp.locks import file_lock
from abyssexp.owned import make_dirs
from abyssexp.schemas.record import Status
from abyssexp.schemas.resolve import load_params_file, resolve_params
from abyssexp.schemas.sweep import MAX_TRIALS, OptunaSearch, Sweep, Trial
from abyssexp.sweeps.trials import (
    SweepLocation,
    SweepRequest,
    TrialPlan,
    _trial_request,
    load_sweep,
    parse_random,
)

if TYPE_CHECKING:
    import optuna

#: Statuses after which a slot's trial is over: the study is told, the slot is not run again.
FINISHED = (Status.COMPLETED, Status.PRUNED, Status.FAILED, Status.CRASHED)


def _check_options(request: SweepRequest) -> None:
    """``--search optuna`` takes ``--space`` and ``--trials``, not the grid's options."""
    from abyssexp.sweeps.optuna_study import PRUNERS

    if request.grid or request.random or request.seeds or request.folds:
        raise InvalidInputError(
            "--search optuna: give --space KEY=DIST (not --grid, --random, --seeds or --folds)"
        )
    if not request.space:
        raise InvalidInputError(
            "--search optuna needs --space KEY=DIST, e.g. --space 'training.lr=loguniform(1e-5,1e-2)'"
        )
    if not 1 <= request.trials <= MAX_TRIALS:
        raise InvalidInputError(f"--search optuna needs --trials N, 1 to {MAX_TRIALS}")
    if request.direction not in (None, *metric_direction.DIRECTIONS):
        raise InvalidInputError(f"--direction: maximize or minimize. Received: {request.direction}")
    if request.pruner not in (None, "none", *PRUNERS):
        raise InvalidInputError(f"--pruner: median or none. Received: {request.pruner}")


def _check_space(base: dict[str, Any], request: SweepRequest) -> tuple[dict[str, str], str]:
    """Each key and each bound or choice against the params schema; the metric against what
    training logs. Returns the space's texts and the metric."""
    overrides = list(request.overrides)
    resolved = resolve_params(base, overrides)
    space = parse_random(request.space, "--space")
    for key, dist in space.items():
        if dist.kind == "choice" and any(isinstance(v, list | dict) for v in dist.args):
            raise InvalidInputError(f"--space {key}: choice(...) takes numbers, words or booleans")
        for value in dist.args:  # a bad key or an out-of-range bound is named before writing
            resolve_params(base, [*overrides, (key, value)])
    metric = request.metric or resolved.training.monitor
    try:
        resolve_params(base, [*overrides, ("training.monitor", metric)])
    except InvalidInputError as exc:
        raise InvalidInputError(f"--metric {metric}: {exc}") from None
    return {key: dist.text for key, dist in space.items()}, metric


def create_optuna_sweep(request: SweepRequest) -> SweepLocation:
    """Check the search, create its empty study and write the sweep file; no trial yet.

    Raises:
        InvalidInputError: a bad option, key, bound or metric, or Optuna is not installed.
        ExperimentNotFoundError: ``--from`` names no experiment.
    """
    from abyssexp.sweeps.optuna_study import create_study, require_optuna

    _check_options(request)
    require_optuna()
    project = validate_part(request.project, "project")
    experiment_type = validate_part(request.experiment_type, "experiment type")
    base = resolve_ref(request.base_ref, request.scratch)
    base_json = load_params_file(base.params)
    space, metric = _check_space(base_json, request)
    direction = request.direction or metric_direction.direction(metric)
    sweeps_dir = make_dirs(request.scratch / project / experiment_type / SWEEPS_DIR)
    number, claim = claim_next_number(sweeps_dir)
    sweep_id = f"s{format_number(number)}"
    journal = sweeps_dir / f"{sweep_id}.optuna.journal"
    path = sweeps_dir / f"{sweep_id}.json"
    base_project, base_type = split_location(ExperimentPaths(base.root))
    search = OptunaSearch(
        trials=request.trials,
        metric=metric,
        direction=direction,
        space=space,
        pruner=None if request.pruner in (None, "none") else request.pruner,
        study=journal.name,
        study_name=f"{project}/{experiment_type}/{sweep_id}",
        base=f"{base_project}/{base_type}/{base.root.name}",
        dataset_info=validate_part(request.dataset_info, "dataset info"),
        infos=[validate_part(info, f"info {i + 1}") for i, info in enumerate(request.infos)],
        overrides=list(request.overrides),
        note=request.note,
    )
    try:
        create_study(journal, search.study_name, direction, search.pruner)
        sweep = Sweep(
            id=sweep_id,
            project=project,
            type=experiment_type,
            created=utc_now(),
            user=current_user(),
            command_line=list(request.command_line or sys.argv),
            base=request.base_ref,
            optuna=search,
        )
        atomic_write_json(path, sweep.to_json())
    except BaseException:
        journal.unlink(missing_ok=True)
        release_claim(claim)
        raise
    return SweepLocation(path, sweep)


def study_path(location: SweepLocation) -> Path:
    assert location.sweep.optuna is not None
    return location.path.parent / location.sweep.optuna.study


def open_sweep_study(location: SweepLocation) -> optuna.Study:
    from abyssexp.sweeps.optuna_study import open_study

    search = _search(location)
    return open_study(study_path(location), search.study_name, search.pruner)


def _search(location: SweepLocation) -> OptunaSearch:
    if location.sweep.optuna is None:
        raise InvalidInputError(f"sweep {location.ref}: not an Optuna sweep (--search optuna)")
    return location.sweep.optuna


@dataclass(frozen=True)
class SlotStart:
    """The experiment a slot trains, and its trial in the study."""

    root: Path
    name: str  # PROJECT/TYPE/NAME
    optuna_trial: int
    resumed: bool


def start_slot(
    location: SweepLocation, index: int, fields: dict[str, Any] | None = None
) -> SlotStart:
    """Slot ``index``'s experiment: the one it made before (to resume), else a new trial asked
    from the study and created as an ordinary numbered experiment, all under the sweep's lock.

    Raises:
        InvalidInputError: no such slot, or the trial's params are refused (told ``FAIL``).
    """
    search = _search(location)
    if not 0 <= index < search.trials:
        raise InvalidInputError(f"sweep {location.ref}: slot {index} is not 0..{search.trials - 1}")
    with file_lock(location.path.with_suffix(".lock"), timeout=600, what="sweep"):
        sweep = load_sweep(location.path)
        current = SweepLocation(location.path, sweep)
        prefix = f"{sweep.project}/{sweep.type}/"
        for trial, root in zip(sweep.trials, current.trial_roots(), strict=True):
            if trial.index == index and trial.optuna_trial is not None:
                return SlotStart(root, prefix + trial.name, trial.optuna_trial, True)
        made = _new_trial(current, index, fields or {})
        sweep.trials = sorted([*sweep.trials, made], key=lambda t: t.index)
        atomic_write_json(location.path, sweep.to_json())
    assert made.optuna_trial is not None  # _new_trial asks the study (None is a grid trial's)
    return SlotStart(current.type_dir / made.name, prefix + made.name, made.optuna_trial, False)


def _new_trial(location: SweepLocation, index: int, fields: dict[str, Any]) -> Trial:
    """Ask the study, then create the experiment; a refused one is told ``FAIL``."""
    from abyssexp.sweeps.optuna_study import ask, tell

    search = _search(location)
    study = open_sweep_study(location)
    number, values = ask(study, parse_random([f"{k}={v}" for k, v in search.space.items()]))
    request = SweepRequest(
        scratch=location.type_dir.parent.parent,
        project=location.sweep.project,
        experiment_type=location.sweep.type,
        dataset_info=search.dataset_info,
        base_ref=search.base,
        infos=search.infos,
        # the trial's best checkpoint is the one the study is told about
        overrides=[
            *(tuple(pair) for pair in search.overrides),
            ("training.monitor", search.metric),
        ],
        note=search.note,
        command_line=location.sweep.command_line,
    )
    trial_request = _trial_request(request, TrialPlan(values), index, location.sweep.id, {})
    try:
        staged = stage_experiment(trial_request, None, {"sweep": location.ref, **fields})
        experiment = publish_experiment(staged)
    except BaseException:
        tell(study, number, "FAIL")
        raise
    return Trial(
        index=index, name=experiment.name, number=experiment.number, values=values,
        optuna_trial=number,
    )  # fmt: skip


def best_value(root: Path, metric: str, direction: str) -> float | None:
    """The best finite value of ``metric`` in the trial's ``logs/history.csv``."""
    history = ExperimentPaths(root).history
    return best_in_history(history, metric, direction == metric_direction.MINIMIZE)


def finish_slot(location: SweepLocation, start: SlotStart) -> str:
    """Tell the study how the slot's trial ended; returns the experiment's status.

    Completed: the best value of the metric (``FAIL`` when it was never logged); pruned:
    ``PRUNED``; failed or crashed (a killed process): ``FAIL``. Interrupted or new: nothing,
    the trial stays open for ``sweep run`` to resume.
    """
    from abyssexp.sweeps.optuna_study import tell

    search = _search(location)
    status = load_record(start.root / RECORD_FILE).status
    if status not in FINISHED:
        return status
    study = open_sweep_study(location)
    if status == Status.COMPLETED:
        value = best_value(start.root, search.metric, search.direction)
        tell(study, start.optuna_trial, "FAIL" if value is None else "COMPLETE", value)
    else:
        tell(study, start.optuna_trial, "PRUNED" if status == Status.PRUNED else "FAIL")
    return status


def pending_slots(location: SweepLocation) -> list[int]:
    """Slots to run: those without a trial, and those whose trial can go on (new,
    interrupted). A finished trial's study entry is told first, if it was not."""
    search = _search(location)
    roots = zip(location.sweep.trials, location.trial_roots(), strict=True)
    made = {trial.index: (trial, root) for trial, root in roots}
    pending = []
    for index in range(search.trials):
        if index not in made:
            pending.append(index)
            continue
        trial, root = made[index]
        start = SlotStart(root, trial.name, trial.optuna_trial or 0, True)
        status = finish_slot(location, start)
        if status in (Status.NEW, Status.INTERRUPTED):
            pending.append(index)
    return pending

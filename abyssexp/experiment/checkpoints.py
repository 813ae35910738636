"""Checkpoint files: the one place that names, lists, resolves and prunes them.

``models/model_<epoch>.keras`` after each finished epoch (epochs counted from 1, the seed's names),
``models/best.keras`` for the best monitored value, ``models/recovery.keras`` when a run is
interrupted, and ``models/train_state.json`` (which epoch finished last, and what a resume restores
besides the checkpoint). Training, evaluation, ``gc`` and promotion all come here; nothing else
globs ``model_*``. Pruning never follows a symlink and never leaves ``models/``
(``abyssexp.owned``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from abyssexp.atomic import atomic_write_json
from abyssexp.errors import ExperimentStateError, InvalidInputError
from abyssexp.owned import check_inside, unlink_inside
from abyssexp.schemas.train_state import TRAIN_STATE_VERSION, TrainState

if TYPE_CHECKING:
    from abyssexp.experiment.layout import ExperimentPaths

BEST_CHECKPOINT = "best.keras"
RECOVERY_CHECKPOINT = "recovery.keras"
CHECKPOINT_PREFIX = "model_"
CHECKPOINT_SUFFIXES = (".keras", ".h5")


def checkpoint_name(epoch: int, extension: str = ".keras") -> str:
    """``model_<epoch>.keras``: the seed's ``model_N`` names, epoch counted from 1."""
    return f"{CHECKPOINT_PREFIX}{epoch}{extension}"


def epoch_of(path: Path) -> int | None:
    """The epoch of an epoch checkpoint (``model_12.keras`` → 12), else None."""
    stem = path.stem.removeprefix(CHECKPOINT_PREFIX)
    if path.stem == stem or path.suffix not in CHECKPOINT_SUFFIXES or not stem.isdigit():
        return None
    return int(stem)


def epoch_checkpoints(
    models: Path, suffixes: Collection[str] = CHECKPOINT_SUFFIXES
) -> list[tuple[int, Path]]:
    """Every ``model_<epoch>`` checkpoint in ``models``, oldest first."""
    found = []
    for path in models.glob(f"{CHECKPOINT_PREFIX}*"):
        epoch = epoch_of(path)
        if epoch is not None and path.suffix in suffixes:
            found.append((epoch, path))
    return sorted(found)


def last_epoch(models: Path) -> int | None:
    """The newest epoch with a ``.keras`` checkpoint, or None."""
    found = epoch_checkpoints(models, (".keras",))
    return found[-1][0] if found else None


def resolve_checkpoint(paths: ExperimentPaths, which: str) -> Path:
    """``best``, ``last`` or an epoch number → an existing checkpoint file.

    Raises:
        InvalidInputError: ``which`` is none of these.
        ExperimentStateError: the checkpoint does not exist (the available ones are listed).
    """
    if which == "best":
        path = paths.best_checkpoint
    elif which == "last":
        newest = last_epoch(paths.models)
        if newest is None:
            raise ExperimentStateError(
                f"{paths.models}: no checkpoints; train the experiment first"
            )
        path = paths.checkpoint(newest)
    elif which.isdigit():
        path = paths.checkpoint(int(which))
    else:
        raise InvalidInputError(
            f"--checkpoint must be best, last or an epoch number. Received: {which!r}"
        )
    if not path.is_file():
        available = sorted(p.name for p in paths.models.glob("*.keras"))
        raise ExperimentStateError(
            f"{path}: checkpoint not found (available: {', '.join(available) or 'none; train first'})"
        )
    return path


def retained_epochs(
    epochs: Iterable[int], newest: int, interval: int, keep: int | None
) -> set[int]:
    """Epochs that training's retention keeps: the newest (for resume) and every
    ``interval``-th of the last ``keep`` such epochs (all of them when ``keep`` is None)."""
    on_interval = sorted({e for e in epochs if e % interval == 0}, reverse=True)
    if keep is not None:
        on_interval = on_interval[:keep]
    return {newest, *on_interval}


def prune_epoch_checkpoints(
    paths: ExperimentPaths,
    keep_epochs: Collection[int],
    protected: Collection[str] = (),
    dry_run: bool = False,
) -> tuple[list[str], list[str], int]:
    """Remove epoch checkpoints not in ``keep_epochs`` and not named in ``protected``.

    Returns:
        (removed names, kept names, bytes freed). ``best.keras`` is never touched here.
    """
    removed, kept, freed = [], [], 0
    for epoch, path in epoch_checkpoints(paths.models):
        if epoch in keep_epochs or path.name in protected:
            kept.append(path.name)
            continue
        removed.append(path.name)
        if dry_run:
            check_inside(path, paths.root)  # say now what the real run would refuse
            freed += path.lstat().st_size
        else:
            freed += unlink_inside(path, paths.root)
    return removed, kept, freed


def remove_unprotected_checkpoints(paths: ExperimentPaths, protected: Collection[str]) -> int:
    """Remove every checkpoint (epoch, best, recovery) not named in ``protected``; bytes freed."""
    candidates = [path for _, path in epoch_checkpoints(paths.models)]
    candidates += [paths.best_checkpoint, paths.recovery_checkpoint]
    freed = 0
    for path in candidates:
        if (path.is_file() or path.is_symlink()) and path.name not in protected:
            freed += unlink_inside(path, paths.root)
    return freed


def read_train_state(paths: ExperimentPaths) -> TrainState:
    """The experiment's ``train_state.json``, version 1 (no layer random states) too.

    Raises:
        ExperimentStateError: it does not parse, a field has the wrong type, or its checkpoint is
            not the epoch's own ``model_<epoch>.keras`` (the name is joined to ``models/``).
    """
    path = paths.train_state
    try:
        state = TrainState.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, RecursionError) as exc:  # ValidationError is a ValueError
        raise ExperimentStateError(
            f"{path}: does not parse{_problem(exc)}, so the last finished epoch is unknown; "
            f"start a new experiment with `abyssexp new ... --from {paths.root}`"
        ) from None
    if state.checkpoint != checkpoint_name(state.epoch):
        raise ExperimentStateError(
            f"{path}: checkpoint must be {checkpoint_name(state.epoch)} for epoch {state.epoch}. "
            f"Received: {state.checkpoint!r}; start a new experiment with "
            f"`abyssexp new ... --from {paths.root}`"
        )
    return state


def _problem(exc: BaseException) -> str:
    """`` (field: message)`` for a validation error, else nothing."""
    if not isinstance(exc, ValidationError) or not exc.errors():
        return ""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "the file"
    return f" ({field}: {error['msg']})"


def write_train_state(paths: ExperimentPaths, state: TrainState) -> None:
    """Write ``train_state.json`` atomically, at the current version."""
    data = state.model_copy(update={"state_version": TRAIN_STATE_VERSION}).model_dump(mode="json")
    atomic_write_json(paths.train_state, data)

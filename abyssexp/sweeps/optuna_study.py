"""The Optuna study of a ``--search optuna`` sweep: the one module that imports Optuna.

The study is a journal file beside the sweep file (``.sweeps/sNNN.optuna.journal``): Optuna's
file-based storage, appended to under a lock file, so several processes (local slots, Slurm array
tasks on other nodes of a shared file system) ask and tell through it at once. Optuna is an
optional extra; ``require_optuna`` says how to install it. Importing this module is cheap: Optuna
itself loads only when a study is opened.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.errors import InvalidInputError
from abyssexp.owned import check_path

if TYPE_CHECKING:
    import optuna

    from abyssexp.sweeps.trials import Distribution

INSTALL_HINT = "pip install 'abyssexp[optuna]' (or pip install optuna)"
PRUNERS = ("median",)


def require_optuna(what: str = "--search optuna") -> None:
    """Stop with the install line when Optuna is not installed (without importing it).

    Raises:
        InvalidInputError: Optuna is missing.
    """
    if importlib.util.find_spec("optuna") is None:
        raise InvalidInputError(f"{what} needs Optuna, an optional extra: {INSTALL_HINT}")


def check_journal(path: Path) -> None:
    """Refuse a journal that is a symlink or lies below a symlinked folder of the scratch:
    Optuna appends to the path it is given (and makes its lock link beside it), so it would
    write to the link's target (the link rule, ``owned.py``). Checked where the journal is
    opened, and by ``sweep run`` before it starts any slot.

    Raises:
        OutsideOwnedFolderError: the journal or a folder on its way is a symlink.
    """
    check_path(path, verb="open the Optuna journal", final=True)


def _storage(path: Path) -> optuna.storages.JournalStorage:
    """The journal storage: the one place the journal is opened (``check_journal`` first)."""
    import optuna

    check_journal(path)
    from optuna.storages.journal import JournalFileBackend

    backend = JournalFileBackend(str(path))
    return optuna.storages.JournalStorage(backend)


def _pruner(pruner: str | None) -> optuna.pruners.BasePruner:
    import optuna

    if pruner == "median":
        # Wait for a few finished trials and the first epochs before judging: one tiny early
        # epoch says little.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def create_study(path: Path, name: str, direction: str, pruner: str | None) -> None:
    """Create the journal with an empty study (``sweep new``)."""
    require_optuna()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(
        storage=_storage(path),
        study_name=name,
        direction=optuna.study.StudyDirection[direction.upper()],  # checked by the sweep schema
        pruner=_pruner(pruner),
    )


def open_study(path: Path, name: str, pruner: str | None) -> optuna.Study:
    """The study of a sweep, for asking, telling or reporting.

    Raises:
        InvalidInputError: Optuna is missing, or the journal is not there or cannot be read
            (empty, truncated, torn by a killed writer, not a journal, another study's).
    """
    require_optuna("an Optuna sweep")
    if not path.is_file():
        raise InvalidInputError(f"{path}: the sweep's Optuna study is missing")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _readable_journal(str(path)):
        return optuna.load_study(storage=_storage(path), study_name=name, pruner=_pruner(pruner))


#: What Optuna raises replaying a journal it cannot make sense of (which one is its detail).
_JOURNAL_ERRORS = (KeyError, AttributeError, TypeError, IndexError, ValueError)


@contextmanager
def _readable_journal(path: str) -> Iterator[None]:
    """Turn Optuna's failures on a damaged journal (empty, truncated, a torn last line, random
    bytes, another study's) into one line naming the file and what to do."""
    try:
        yield
    except _JOURNAL_ERRORS as exc:
        raise InvalidInputError(
            f"{path}: the sweep's Optuna study cannot be read from it ({type(exc).__name__}: "
            f"{str(exc)[:80]}); the journal is damaged (a killed writer, a copy cut short) or "
            "holds another study: restore it, or make a new sweep with `abyssexp sweep new`"
        ) from None


def _journal_of(study: optuna.Study) -> str:
    backend = getattr(study._storage, "_backend", None)
    return str(getattr(backend, "_file_path", "the Optuna journal"))


def ask(study: optuna.Study, space: dict[str, Distribution]) -> tuple[int, dict[str, Any]]:
    """A new trial from the sampler: its number and a value for each key of ``space``.

    ``space`` maps dotted keys to ``sweep.Distribution`` (kind and arguments).
    """
    with _readable_journal(_journal_of(study)):
        trial = study.ask()
    values = {}
    for key, dist in space.items():
        if dist.kind == "choice":
            values[key] = trial.suggest_categorical(key, list(dist.args))
        elif dist.kind == "randint":
            values[key] = trial.suggest_int(key, *dist.args)
        else:
            low, high = (float(a) for a in dist.args)
            values[key] = trial.suggest_float(key, low, high, log=dist.kind == "loguniform")
    return trial.number, values


def trial_handle(study: optuna.Study, number: int) -> optuna.Trial:
    """The running trial ``number`` as an ``optuna.Trial`` (to report and ask to prune) in a
    process other than the one that asked for it."""
    import optuna

    storage = study._storage
    with _readable_journal(_journal_of(study)):
        study_id = storage.get_study_id_from_name(study.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


def trial_state(study: optuna.Study, number: int) -> str:
    """``RUNNING``, ``COMPLETE``, ``PRUNED``, ``FAIL`` or ``WAITING``."""
    with _readable_journal(_journal_of(study)):
        return study.trials[number].state.name


def tell(study: optuna.Study, number: int, state: str, value: float | None = None) -> None:
    """End trial ``number`` in ``state``, Optuna's name: ``COMPLETE`` with ``value``, ``PRUNED``
    or ``FAIL``; a trial already ended is left as it is."""
    from optuna.trial import TrialState

    values = value if state == "COMPLETE" else None
    with _readable_journal(_journal_of(study)):
        study.tell(number, values, state=TrialState[state], skip_if_finished=True)

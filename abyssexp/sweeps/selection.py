"""Which experiments a command acts on: the one answer for every command that takes REFS,
``--all`` or ``--sweep`` (``mlflow sync``, ``compare``, ``list --sweep``, ``train``/``sweep
run`` and ``cancel`` through the runners; ``gc --all`` walks projects itself to skip a linked
one). It lives with the sweeps because a sweep reference is one of its forms: the convention
below (``experiment/``) never imports a sweep.

A reference is an experiment (``PROJECT/TYPE/NNN``, a number, a folder), a pattern with glob
characters (``shapes/classification/*``), or a sweep (``PROJECT/TYPE/sNNN``, ``sNNN`` or its
file) where the command accepts one; ``--all`` is every experiment under the scratch root. The
folders come back in the order named, each once. Filters on the rows (``--status``, ``--tag``,
``--filter``) apply to what this selects (``listing.filter_rows``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.list_rows import is_pattern, iter_experiment_dirs, matching_folders
from abyssexp.experiment.refs import resolve_ref
from abyssexp.sweeps.trials import SWEEP_ID_RE, SweepLocation, resolve_sweep


@dataclass(frozen=True)
class Selection:
    """What a command line named.

    Attributes:
        refs: experiments, patterns (and sweeps where ``sweeps_as_refs``), in order.
        every: ``--all``: every experiment under the scratch root.
        sweep: ``--sweep ID``: every trial of that sweep.
        sweeps_as_refs: a reference that names a sweep selects its trials (``cancel``).
    """

    refs: tuple[str, ...] = ()
    every: bool = False
    sweep: str | None = None
    sweeps_as_refs: bool = False


def is_sweep_ref(ref: str) -> bool:
    """Whether ``ref`` names a sweep (``sNNN``, ``PROJECT/TYPE/sNNN`` or a sweep file)."""
    return ref.endswith(".json") or bool(SWEEP_ID_RE.match(ref.strip("/").split("/")[-1]))


def _roots_of(ref: str, scratch: Path, sweeps: bool) -> list[Path]:
    if sweeps and is_sweep_ref(ref):
        return resolve_sweep(ref, scratch).trial_roots()
    if is_pattern(ref):
        return [
            Path(f"{parent}{os.sep}{name}")
            for _, _, parent, name, _ in matching_folders(ref, scratch)
        ]
    return [resolve_ref(ref, scratch).root]


def select_roots(
    scratch: Path, selection: Selection, usage: str, location: SweepLocation | None = None
) -> list[Path]:
    """The experiment folders ``selection`` names, in order, each once.

    Args:
        scratch: the scratch root.
        selection: what the command line named.
        usage: the one-line error when it named nothing, or ``--all`` beside something else
            (``"gc: give one experiment REF or --all"``).
        location: the sweep of ``selection.sweep`` when the caller resolved it already.

    Raises:
        InvalidInputError: nothing named, ``--all`` with REFS or ``--sweep``, a bad pattern.
        ExperimentNotFoundError: a reference or the sweep names nothing.
    """
    if selection.every == bool(selection.refs or selection.sweep):
        if selection.every or not (selection.refs or selection.sweep):
            raise InvalidInputError(usage)
    if selection.every:
        return [folder for _, _, folder in iter_experiment_dirs(scratch)]
    roots: list[Path] = []
    for ref in selection.refs:
        roots += _roots_of(ref, scratch, selection.sweeps_as_refs)
    if selection.sweep:
        roots += (location or resolve_sweep(selection.sweep, scratch)).trial_roots()
    return list(dict.fromkeys(roots))

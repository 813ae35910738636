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

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.list_rows import iter_experiment_dirs
from abyssexp.experiment.naming import number_of
from abyssexp.experiment.refs import resolve_ref
from abyssexp.sweeps.trials import SWEEP_ID_RE, SweepLocation, resolve_sweep

_GLOB = set("*?[")


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


def matching(ref: str, scratch: Path) -> list[tuple[str, str, Path]]:
    """``PROJECT/TYPE/NAME`` with glob characters: every experiment it matches."""
    parts = ref.strip("/").split("/")
    if len(parts) not in (2, 3):
        raise InvalidInputError(
            f"experiment pattern {ref!r}: expected PROJECT/TYPE[/NAME] with * ? [...], "
            "e.g. shapes/classification/*"
        )
    name = parts[2] if len(parts) == 3 else "*"
    found = []
    for project, experiment_type, folder in iter_experiment_dirs(scratch, parts[0], parts[1]):
        number = folder.name.split(".", 1)[0].lstrip("0") or "0"
        if fnmatch.fnmatchcase(folder.name, name) or fnmatch.fnmatchcase(number, name):
            found.append((project, experiment_type, folder))
    return sorted(found, key=lambda f: (f[0], f[1], number_of(f[2].name) or 0, f[2].name))


def is_pattern(ref: str) -> bool:
    """Whether ``ref`` is a glob pattern (and not a folder whose name holds such a character)."""
    return bool(_GLOB & set(ref)) and not Path(ref).is_dir()


def _roots_of(ref: str, scratch: Path, sweeps: bool) -> list[Path]:
    if sweeps and is_sweep_ref(ref):
        return resolve_sweep(ref, scratch).trial_roots()
    if is_pattern(ref):
        return [folder for _, _, folder in matching(ref, scratch)]
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

"""``archive``, ``restore`` and ``rm``: experiments out of sight, back, and gone.

``archive`` moves ``<scratch>/<project>/<type>/<name>`` to ``<scratch>/.archive/<project>/<type>/
<name>`` (hidden from ``list``, shown by ``list --archived``); ``restore`` moves it back. ``rm`` is
the archive's delete: an experiment is moved to the archive first, then removed there, only when it
was never promoted. Every move and removal goes through ``abyssexp.owned`` (inside the scratch root,
never through a symlink), and an experiment's number stays claimed in its type folder so it is
never given to a new experiment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from abyssexp.errors import ExperimentNotFoundError, ExperimentStateError
from abyssexp.experiment.layout import ARCHIVE_DIR, ExperimentPaths, disk_usage
from abyssexp.experiment.naming import parse_name
from abyssexp.experiment.numbering import keep_claimed
from abyssexp.experiment.record_file import read_record
from abyssexp.experiment.refs import resolve_ref, split_location
from abyssexp.locks import release_lock, try_lock
from abyssexp.owned import check_inside, move_inside, rmtree_inside


def archive_root(scratch: Path) -> Path:
    return scratch / ARCHIVE_DIR


@dataclass(frozen=True)
class Moved:
    """Where an experiment was, and where it is now."""

    source: Path
    target: Path

    def to_json(self) -> dict[str, str]:
        return {"from": str(self.source), "to": str(self.target)}


def _move(paths: ExperimentPaths, source_root: Path, target_root: Path, scratch: Path) -> Moved:
    project, experiment_type = split_location(paths)
    target = target_root / project / experiment_type / paths.name
    source = source_root / project / experiment_type / paths.name
    if source.absolute() != paths.root.absolute():
        raise ExperimentStateError(
            f"{paths.root}: not at {source}; only experiments in the scratch tree "
            f"({scratch}) can be archived or restored"
        )
    number = parse_name(paths.name)
    fd = try_lock(paths.train_lock)
    if fd is None:
        raise ExperimentStateError(
            f"{paths.root}: training is running; wait for it or stop it before moving it"
        )
    try:
        if number is not None:
            keep_claimed(source.parent, number.number)
            keep_claimed(target.parent, number.number)
        move_inside(source, target, scratch)
    except FileExistsError:
        raise ExperimentStateError(f"{target}: already exists; remove or rename it first") from None
    finally:
        release_lock(fd)
    return Moved(source, target)


def archive_experiment(ref: str, scratch: Path) -> Moved:
    """Move an experiment into ``<scratch>/.archive/``.

    Raises:
        ExperimentNotFoundError: ``ref`` matches nothing in the scratch tree.
        ExperimentStateError: it is training, or the archive holds that name already.
    """
    paths = resolve_ref(ref, scratch)
    return _move(paths, scratch, archive_root(scratch), scratch)


def restore_experiment(ref: str, scratch: Path) -> Moved:
    """Move an archived experiment back to the scratch tree."""
    paths = _resolve_archived(ref, scratch)
    return _move(paths, archive_root(scratch), scratch, scratch)


def _resolve_archived(ref: str, scratch: Path) -> ExperimentPaths:
    try:
        return resolve_ref(ref, archive_root(scratch))
    except ExperimentNotFoundError:
        raise ExperimentNotFoundError(
            f"experiment {ref!r}: not in the archive {archive_root(scratch)}; "
            "`abyssexp list --archived` shows what is there"
        ) from None


@dataclass(frozen=True)
class Removal:
    """A checked ``rm``: what will go, how big it is, and whether it is archived already."""

    paths: ExperimentPaths
    archived: bool
    bytes: int
    scratch: Path

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.paths.root), "archived": self.archived, "bytes": self.bytes}


def plan_removal(ref: str, scratch: Path) -> Removal:
    """Find the experiment (scratch tree first, then the archive) and check it may go.

    Raises:
        ExperimentStateError: it was promoted, or its record cannot be read (so we cannot tell).
    """
    try:
        paths = resolve_ref(ref, scratch)
    except ExperimentNotFoundError:
        paths = _resolve_archived(ref, scratch)
    archived = paths.root.absolute().is_relative_to(archive_root(scratch).absolute())
    if not paths.root.absolute().is_relative_to(scratch.absolute()):
        raise ExperimentStateError(
            f"{paths.root}: not inside the scratch root {scratch}; abyssexp removes only there"
        )
    check_inside(paths.root, scratch)
    record = read_record(paths.record)
    if record.promotions:
        where = ", ".join(p.path for p in record.promotions)
        raise ExperimentStateError(
            f"{paths.root}: was promoted ({where}); promoted experiments are never removed "
            f"(`abyssexp archive {ref}` hides it instead)"
        )
    return Removal(paths, archived, disk_usage(paths.root), scratch)


def remove_experiment(removal: Removal) -> Path:
    """Move the experiment to the archive (unless it is there) and remove it from there.

    Returns:
        The archived path that was removed.
    """
    scratch = removal.scratch
    target = removal.paths.root
    if not removal.archived:
        target = _move(removal.paths, scratch, archive_root(scratch), scratch).target
    rmtree_inside(target, archive_root(scratch))
    if target.exists():
        raise ExperimentStateError(f"{target}: could not be removed completely; remove it by hand")
    return target

"""Deleting and moving only inside the folder abyssexp owns.

Every file abyssexp removes or moves (checkpoints by retention and ``gc``, temporaries of a killed
promotion) goes through here. The path is resolved *without* following a final symlink, and each
folder between the owner and the file must be a real folder inside the owner: a ``models/`` that
is a symlink to somewhere else is refused, never followed. A file that is itself a symlink is
unlinked as a link; its target is never touched. A path with a ``..`` part is refused: it reads as
a folder inside the owner but the kernel walks it through whatever symlink precedes it.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from abyssexp.errors import AbyssExpError


class OutsideOwnedFolderError(AbyssExpError):
    """A path to delete or move resolves outside the folder abyssexp owns."""


def check_inside(path: Path, owner: Path, *, verb: str = "delete") -> None:
    """Raise unless ``path``'s folder is ``owner`` or a real (non-symlink) folder inside it.

    Raises:
        OutsideOwnedFolderError: a folder on the way is a symlink, the path has a ``..`` part,
            or the path leaves ``owner``.
    """
    if ".." in Path(path).parts:
        raise OutsideOwnedFolderError(
            f"{path}: contains '..'; refusing to {verb} it. Give the path without '..'"
        )
    owner_real = Path(os.path.realpath(owner))
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.parent.relative_to(Path(os.path.abspath(owner)))
    except ValueError:
        raise OutsideOwnedFolderError(
            f"{path}: not inside {owner}; refusing to {verb} it"
        ) from None
    current = Path(os.path.abspath(owner))
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise OutsideOwnedFolderError(
                f"{current}: is a symlink (to {os.path.realpath(current)}); refusing to {verb} "
                "through it. Replace it with a real folder, or remove the link yourself"
            )
    if not Path(os.path.realpath(absolute.parent)).is_relative_to(owner_real):
        raise OutsideOwnedFolderError(f"{path}: resolves outside {owner}; refusing to {verb} it")


def unlink_inside(path: Path, owner: Path) -> int:
    """Remove one file (or the symlink itself) inside ``owner``; returns the bytes freed."""
    check_inside(path, owner)
    try:
        size = 0 if path.is_symlink() else path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


def make_writable_inside(path: Path, owner: Path) -> None:
    """Give the owner write access to every real folder of the tree ``path`` (a sealed promotion),
    so its entries can be removed. Symlinks are skipped, never followed; files keep their modes
    (removing a file needs write access to its folder only)."""
    check_inside(path, owner, verb="change")
    if path.is_symlink() or not path.is_dir():
        return
    for dirpath, _dirs, _names in os.walk(path):  # os.walk never descends into symlinks
        try:
            fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # replaced by a symlink meanwhile, or gone: leave it
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if mode & stat.S_IRWXU != stat.S_IRWXU:
                os.fchmod(fd, mode | stat.S_IRWXU)
        finally:
            os.close(fd)


def rmtree_inside(path: Path, owner: Path) -> None:
    """Remove a folder inside ``owner``, read-only (sealed) folders included; symlinks inside it
    are unlinked, never followed. Best effort: the caller checks whether ``path`` is gone."""
    check_inside(path, owner)
    if path.is_symlink():
        path.unlink()
        return
    make_writable_inside(path, owner)
    shutil.rmtree(path, ignore_errors=True)  # rmtree never follows symlinks inside the tree


def move_inside(source: Path, target: Path, owner: Path) -> None:
    """Rename the folder ``source`` to ``target``, both inside ``owner`` (same file system).

    Neither may be reached through a symlink, ``source`` may not be a symlink itself and
    ``target`` must not exist: a move never replaces anything.

    Raises:
        OutsideOwnedFolderError: a path leaves ``owner`` or goes through a symlink.
        FileExistsError: ``target`` exists.
    """
    check_inside(source, owner, verb="move")
    if source.is_symlink():
        raise OutsideOwnedFolderError(f"{source}: is a symlink; refusing to move it")
    target.parent.mkdir(parents=True, exist_ok=True)
    check_inside(target, owner, verb="move")
    if target.exists() or target.is_symlink():
        raise FileExistsError(errno.EEXIST, "already exists", str(target))
    os.rename(source, target)

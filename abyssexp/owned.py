"""Deleting and moving only inside the folder abyssexp owns.

Every file abyssexp removes or moves (checkpoints by retention and ``gc``, temporaries of a killed
promotion) goes through here. The path is resolved *without* following a final symlink, and each
folder between the owner and the file must be a real folder inside the owner: a ``models/`` that
is a symlink to somewhere else is refused, never followed. A file that is itself a symlink is
unlinked as a link; its target is never touched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from abyssexp.errors import AbyssExpError


class OutsideOwnedFolderError(AbyssExpError):
    """A path to delete or move resolves outside the folder abyssexp owns."""


def check_inside(path: Path, owner: Path, *, verb: str = "delete") -> None:
    """Raise unless ``path``'s folder is ``owner`` or a real (non-symlink) folder inside it.

    Raises:
        OutsideOwnedFolderError: a folder on the way is a symlink, or the path leaves ``owner``.
    """
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


def rmtree_inside(path: Path, owner: Path) -> None:
    """Remove a folder inside ``owner``; symlinks inside it are unlinked, never followed."""
    check_inside(path, owner)
    if path.is_symlink():
        path.unlink()
        return
    shutil.rmtree(path, ignore_errors=True)  # rmtree never follows symlinks inside the tree

"""The link rule: abyssexp writes, locks, moves and deletes only inside the folders it owns.

The scratch and store roots (and the download cache) may themselves be symlinks: they are
registered once per process (``own_root``) under both their given and their resolved spelling.
*Below* a root, abyssexp never writes, locks, creates, moves or deletes through a symlinked
folder, for every command: a path with a symlink between the root and the file is refused with
one line (``OutsideOwnedFolderError``, exit 1). A file that is itself a symlink is replaced or
unlinked as a link, never written through; lock files are opened with ``O_NOFOLLOW``. Paths
outside every registered root (a user's ``--out``) are the user's choice and are not checked.

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


#: Registered roots (absolute spellings, given and resolved), see ``own_root``.
_ROOTS: set[Path] = set()


def own_root(root: Path) -> Path:
    """Register a root abyssexp owns (scratch, store, cache) and return it unchanged.

    The root itself may be a symlink (resolved once, here); everything below it is checked by
    ``check_inside`` and the writers of this module.
    """
    _ROOTS.add(Path(os.path.abspath(root)))
    _ROOTS.add(Path(os.path.realpath(root)))
    return root


def root_of(path: Path) -> Path | None:
    """The deepest registered root that contains ``path`` (lexically), or None: the nearest of
    its folders that is a root, so the cost is the path's depth, not the number of roots (a
    long-lived process, such as a test worker, registers many)."""
    absolute = Path(os.path.abspath(path))
    return next((folder for folder in absolute.parents if folder in _ROOTS), None)


def _refuse_links(start: Path, relative: Path, verb: str) -> None:
    """The one symlink walk: raise at the first symlink from ``start`` down ``relative``."""
    current = start
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise OutsideOwnedFolderError(
                f"{current}: is a symlink (to {os.path.realpath(current)}); refusing to {verb} "
                "through it. Replace it with a real folder, or remove the link yourself"
            )


def check_path(path: Path, *, verb: str = "write", final: bool = False) -> None:
    """``check_inside`` with the registered root that holds ``path`` as its owner, for writers
    that are given a path without its owner (``atomic``, ``make_dirs``, lock files). A path
    under no registered root is the user's (``--out``): it passes, as the module says.

    Raises:
        OutsideOwnedFolderError: a symlink on the way, or a ``..`` part below a root.
    """
    root = root_of(path)
    if root is not None:
        check_inside(path, root, verb=verb, final=final)


def check_tree(folder: Path, *, verb: str = "use") -> None:
    """Refuse a folder reached through a symlink below its root, or holding a symlinked folder.

    For the commands that let other libraries write into the folder (Keras checkpoints,
    TensorBoard, plots): every folder link is refused up front, not only the one written next.
    """
    check_path(folder, verb=verb, final=True)
    if not folder.is_dir():
        return
    for dirpath, dirs, _files in os.walk(folder):  # os.walk never descends into links
        for name in dirs:
            if os.path.islink(os.path.join(dirpath, name)):
                _refuse_links(Path(dirpath), Path(name), verb)


def make_dirs(folder: Path) -> Path:
    """``mkdir -p`` below a root without going through a symlinked folder; returns ``folder``."""
    check_path(folder, verb="create", final=True)
    folder.mkdir(parents=True, exist_ok=True)
    check_path(folder, verb="create", final=True)  # nothing swapped in meanwhile
    return folder


def open_lock_file(path: Path) -> int:
    """Open (create) a lock file for ``flock``: never through a symlink, neither a folder on the
    way nor the file itself (``O_NOFOLLOW``).

    Raises:
        OutsideOwnedFolderError: the lock file or a folder on the way is a symlink.
    """
    make_dirs(path.parent)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise OutsideOwnedFolderError(
            f"{path}: the lock file is a symlink (to {os.path.realpath(path)}); refusing to "
            "open it. Remove the link"
        ) from None


def check_inside(path: Path, owner: Path, *, verb: str = "delete", final: bool = False) -> None:
    """The one ownership check: raise unless ``path``'s folder (``path`` itself too when
    ``final``) is ``owner`` or a real (non-symlink) folder inside it.

    Raises:
        OutsideOwnedFolderError: a folder on the way is a symlink, the path has a ``..`` part,
            or the path leaves ``owner``.
    """
    if ".." in Path(path).parts:
        raise OutsideOwnedFolderError(
            f"{path}: contains '..'; refusing to {verb} it. Give the path without '..'"
        )
    check_path(owner, verb=verb, final=True)  # the owner itself is reached without a link
    owner_abs = Path(os.path.abspath(owner))
    walked = Path(os.path.abspath(path))
    walked = walked if final else walked.parent
    try:
        relative = walked.relative_to(owner_abs)
    except ValueError:
        raise OutsideOwnedFolderError(
            f"{path}: not inside {owner}; refusing to {verb} it"
        ) from None
    _refuse_links(owner_abs, relative, verb)
    if not Path(os.path.realpath(walked)).is_relative_to(Path(os.path.realpath(owner))):
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


def path_read_from_file(value: object, root: Path, what: str) -> Path | None:
    """A path that a file claims (``entry.json``'s ``scratch_path``), checked against the root it
    must lie under before anything reads or writes through it.

    A file was written by someone, maybe not by this abyssexp (a store copied with ``cp -a``, a
    hand-edited or planted file): its paths are claims, not facts. Returns None when the value is
    not a path under ``root`` at all (another host's or another scratch's experiment: not ours to
    touch, and no error either).

    Raises:
        OutsideOwnedFolderError: the value names a place below ``root`` but leaves it (``..``) or
            goes through a symlinked folder below it.
    """
    if not isinstance(value, str) or not value or "\0" in value or not os.path.isabs(value):
        return None
    path = Path(value)
    root_abs = Path(os.path.abspath(root))
    if not Path(os.path.abspath(path)).is_relative_to(root_abs) or path == root_abs:
        return None
    if ".." in path.parts:
        raise OutsideOwnedFolderError(f"{what} {value}: contains '..'; not followed")
    _refuse_links(root_abs, path.relative_to(root_abs), f"follow {what}")
    if not Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root))):
        raise OutsideOwnedFolderError(f"{what} {value}: resolves outside {root}; not followed")
    return path

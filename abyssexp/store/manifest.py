"""A promoted folder's integrity: ``MANIFEST.sha256`` (``sha256sum -c`` format: one
``<sha256>  <relative path>`` line per file) and its read-only modes (files 0444, folders 0555).

``verify_tree`` reports every difference between a folder and its manifest: files missing,
changed, added, replaced by a symlink, folders added, and anything made writable again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from abyssexp.experiment.promoted import (
    MANIFEST as MANIFEST,  # re-exported: the store reads it here
)
from abyssexp.hashing import sha256_file

FILE_MODE = 0o444
FOLDER_MODE = 0o555
_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass
class TreeListing:
    """What a folder holds, walked without following symlinks (paths relative, ``/``-separated)."""

    files: dict[str, int] = field(default_factory=dict)  # regular file → mode
    folders: dict[str, int] = field(default_factory=dict)  # sub-folder → mode ("." the root)
    links: set[str] = field(default_factory=set)
    others: set[str] = field(default_factory=set)  # fifos, sockets, devices


def scan_tree(root: Path) -> TreeListing:
    listing = TreeListing()
    listing.folders["."] = stat.S_IMODE(root.lstat().st_mode)
    for dirpath, dirs, names in os.walk(root):
        base = Path(dirpath)
        for name in [*dirs, *names]:
            path = base / name
            relative = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                listing.links.add(relative)
            elif stat.S_ISDIR(info.st_mode):
                listing.folders[relative] = stat.S_IMODE(info.st_mode)
            elif stat.S_ISREG(info.st_mode):
                listing.files[relative] = stat.S_IMODE(info.st_mode)
            else:
                listing.others.add(relative)
    return listing


def read_manifest(root: Path) -> dict[str, str]:
    entries = {}
    for line in (root / MANIFEST).read_text().splitlines():
        if line.strip():
            digest, _, relative = line.partition("  ")
            entries[relative] = digest
    return entries


def verify_tree(root: Path, *, checksums: bool = True) -> list[str]:
    """Problems found comparing ``root`` with its manifest and the read-only modes (empty: intact).

    ``checksums=False`` checks only which files and folders exist and their modes (no reading).
    """
    if root.is_symlink() or not (root / MANIFEST).is_file() or (root / MANIFEST).is_symlink():
        return [f"no {MANIFEST}; not a promoted model folder"]
    expected = read_manifest(root)
    listing = scan_tree(root)
    problems = []
    for relative, digest in sorted(expected.items()):
        if relative in listing.links:
            problems.append(f"changed: {relative} (a symlink, not a file)")
        elif relative in listing.others:
            problems.append(f"changed: {relative} (not a regular file)")
        elif relative not in listing.files:
            problems.append(f"missing: {relative}")
        elif checksums and sha256_file(root / relative) != digest:
            problems.append(f"changed: {relative} (sha256 differs from the manifest)")
    for relative in sorted(set(listing.files) - set(expected) - {MANIFEST}):
        problems.append(f"unexpected: {relative} (not in the manifest)")
    for relative in sorted(listing.links - set(expected)):
        problems.append(f"unexpected: {relative} (a symlink)")
    for relative in sorted(listing.others - set(expected)):
        problems.append(f"unexpected: {relative} (not a regular file)")
    needed = {Path(r).parent.as_posix() for r in expected}
    needed |= {p.as_posix() for r in needed for p in Path(r).parents}
    for relative in sorted(set(listing.folders) - needed - {"."}):
        problems.append(f"unexpected: {relative}/ (a folder not in the manifest)")
    fix = "promoted models are read-only; `abyssexp store repair` seals it again"
    for relative, mode in sorted(listing.files.items()):
        if mode & _WRITE:
            problems.append(f"writable: {relative} (mode {mode:o}; {fix})")
    for relative, mode in sorted(listing.folders.items()):
        if mode & _WRITE:
            problems.append(f"writable: {relative}/ (mode {mode:o}; {fix})")
    return problems


def seal_tree(root: Path) -> bool:
    """Make a promoted folder read-only: files 0444, then folders 0555 bottom-up (the root last).

    Symlinks are never followed (a promoted folder has none; one added later stays as it is).
    Returns whether any mode changed. Idempotent, so a retry or ``store repair`` can finish it.
    """
    changed = False
    for dirpath, _dirs, names in os.walk(root, topdown=False):
        for name in names:
            changed |= _chmod_nofollow(Path(dirpath) / name, FILE_MODE, os.O_RDONLY)
        changed |= _chmod_nofollow(Path(dirpath), FOLDER_MODE, os.O_RDONLY | os.O_DIRECTORY)
    return changed


def _chmod_nofollow(path: Path, mode: int, flags: int) -> bool:
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False  # a symlink (ELOOP), or something that cannot be opened: left alone
    try:
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            return False
        if stat.S_IMODE(info.st_mode) == mode:
            return False
        os.fchmod(fd, mode)
        return True
    finally:
        os.close(fd)

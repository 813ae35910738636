"""Temporaries that name their owner, so the next command can tell a killed one from a live one.

A hidden folder abyssexp builds and renames into place (a new experiment, a sweep, an export)
carries an owner tag in its name: this host, the pid and the process's start time
(``processes.py``). When the process that made it is gone (on this host), it is debris of a
killed command and the next command in that folder removes it (``remove_stale``); a live
owner's, or another host's, is left alone.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from abyssexp.owned import rmtree_inside
from abyssexp.processes import GONE, own_identity, owner_state, this_host


def _host_id() -> str:
    return f"h{zlib.crc32(this_host().encode()) % 1_000_000:06d}"


def owner_tag() -> str:
    """``h<host>-<pid>-<start>``: no dots, so it sits inside a dotted name unambiguously."""
    pid, start = own_identity()
    return f"{_host_id()}-{pid}-{start if start is not None else 0}"


def is_stale(tag: str) -> bool:
    """Whether the owner ``tag`` names a process of this host that is gone."""
    parts = tag.split("-")
    if len(parts) != 3 or parts[0] != _host_id() or not (parts[1] + parts[2]).isdigit():
        return False  # another host's, or not a tag: never ours to remove
    start = int(parts[2]) or None  # 0: the start time could not be read
    return owner_state(this_host(), int(parts[1]), start) == GONE


def remove_stale(folder: Path, prefix: str, owner: Path) -> list[Path]:
    """Remove the entries ``<prefix><tag>.<rest>`` of ``folder`` whose owner is gone; returns
    them. Removal goes through ``owned.py`` (inside ``owner``, never through a link)."""
    removed: list[Path] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        tag = name[len(prefix) :].split(".", 1)[0]
        if is_stale(tag):
            rmtree_inside(folder / name, owner)
            if not os.path.lexists(folder / name):
                removed.append(folder / name)
    return removed

"""Experiment references: a folder path, ``PROJECT/TYPE/NNN`` or ``PROJECT/TYPE/<full name>``."""

from __future__ import annotations

import os
from pathlib import Path

from abyssexp.errors import ExperimentNotFoundError
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.naming import number_of, parse_name
from abyssexp.owned import check_tree, own_root, root_of


def is_experiment_dir(path: Path) -> bool:
    paths = ExperimentPaths(path)
    return path.is_dir() and (paths.record.is_file() or paths.params.is_file())


def resolve_ref(ref: str, scratch: Path) -> ExperimentPaths:
    """Find the experiment a reference names, reached without a symlink below its scratch root
    and holding no symlinked folder (the link rule, ``owned.py``).

    Raises:
        ExperimentNotFoundError: nothing matched, or a number matched several folders.
        OutsideOwnedFolderError: the experiment is reached through, or holds, a folder link.
    """
    paths = _find(ref, own_root(scratch))
    if root_of(paths.root) is None and len(paths.root.parts) > 3:
        own_root(paths.scratch)  # a folder given by path outside the scratch root: its own root
    check_tree(paths.root)
    return paths


def _find(ref: str, scratch: Path) -> ExperimentPaths:
    as_path = Path(ref).expanduser()
    if is_experiment_dir(as_path):
        return ExperimentPaths(as_path.absolute())
    parts = ref.strip("/").split("/")
    if len(parts) != 3:
        raise ExperimentNotFoundError(
            f"experiment {ref!r}: not an experiment folder, and not of the form PROJECT/TYPE/NNN "
            f"or PROJECT/TYPE/NAME under {scratch}"
        )
    project, experiment_type, wanted = parts
    type_dir = scratch / project / experiment_type
    if not type_dir.is_dir():
        raise ExperimentNotFoundError(
            f"experiment {ref!r}: no folder {type_dir}; `abyssexp list {project}` shows what exists"
        )
    direct = type_dir / wanted
    if parse_name(wanted) and is_experiment_dir(direct):
        return ExperimentPaths(direct)
    if wanted.isdigit():
        matches = sorted(
            entry.name
            for entry in os.scandir(type_dir)
            if entry.is_dir() and parse_name(entry.name) and number_of(entry.name) == int(wanted)
        )
        if len(matches) == 1:
            return ExperimentPaths(type_dir / matches[0])
        if len(matches) > 1:
            raise ExperimentNotFoundError(
                f"experiment {ref!r} is ambiguous: {', '.join(matches)}; give the full name"
            )
    raise ExperimentNotFoundError(
        f"experiment {ref!r}: no experiment {wanted!r} in {type_dir}; "
        f"`abyssexp list {project} {experiment_type}` shows what exists"
    )


def split_location(paths: ExperimentPaths) -> tuple[str, str]:
    """(project, experiment type) from an experiment folder's place in the scratch tree."""
    return paths.root.parent.parent.name, paths.root.parent.name

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


def split_list_ref(
    project: str | None, experiment_type: str | None
) -> tuple[str | None, str | None, str | None]:
    """``list``'s PROJECT [TYPE] arguments, also given in the REF form every other command
    takes: ``egg/fertility`` is project ``egg``, type ``fertility``; ``egg/fertility/3`` adds
    the experiment (a number or a full name) as the third value.

    Raises:
        InvalidInputError: a REF and a TYPE both given, or more than three parts.

    Example:
        >>> split_list_ref("egg/fertility", None)
        ('egg', 'fertility', None)
    """
    from abyssexp.errors import InvalidInputError

    if project is None or "/" not in project:
        return project, experiment_type, None
    parts = [part for part in project.strip("/").split("/") if part]
    if experiment_type is not None or not 1 <= len(parts) <= 3:
        raise InvalidInputError(
            f"list {project!r}{f' {experiment_type!r}' if experiment_type else ''}: give "
            "PROJECT [TYPE] or PROJECT/TYPE[/NNN], e.g. abyssexp list egg/fertility"
        )
    parts += [None] * (3 - len(parts))  # type: ignore[list-item]  # missing parts are None
    return parts[0], parts[1], parts[2]


def matches_experiment(row_name: str, wanted: str) -> bool:
    """Whether folder ``row_name`` is the experiment ``wanted`` names (a number or a name)."""
    if wanted.isdigit():
        return parse_name(row_name) is not None and number_of(row_name) == int(wanted)
    return row_name == wanted

"""``abyssexp store repair``: rebuild the registry from the promoted folders and finish what
interrupted promotions left.

Under the registry lock it:

* keeps a registry that does not parse as ``registry.json.broken-<UTC time>`` (a copy; nothing is
  deleted) and rebuilds the registry from each promoted folder's ``entry.json``;
* registers promoted folders missing from the registry (a promotion killed after its rename) and
  drops rows whose folder is gone;
* gives each alias to the most recently promoted model that asked for it, for rows it adds (all
  rows when the registry was rebuilt); aliases of a readable registry are kept as they are;
* seals folders left writable, and records the promotion in the scratch experiment's record when
  that experiment is reachable and does not list it;
* removes stale temporaries of this host, and reports the others (another host's are never
  removed automatically).

It cannot restore: rows of folders without ``entry.json`` (promoted by an older abyssexp) once the
registry is lost; an alias moved by hand-editing the registry; a folder whose files were changed
(it is indexed and reported: run ``abyssexp verify``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_copy
from abyssexp.config import StoreURL
from abyssexp.errors import ExperimentStateError
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record_file import RecordUnreadableError, read_record
from abyssexp.hashing import sha256_file
from abyssexp.locks import file_lock
from abyssexp.owned import OutsideOwnedFolderError, path_read_from_file
from abyssexp.schemas.registry import Registry, RegistryRow
from abyssexp.store.manifest import MANIFEST, read_manifest, seal_tree, verify_tree
from abyssexp.store.promotion import model_name, record_promotion_once
from abyssexp.store.registry import (
    LOCK_FILE,
    LOCK_TIMEOUT_S,
    REGISTRY_FILE,
    EntryUnreadableError,
    RegistryUnreadableError,
    empty_registry,
    index_row,
    read_entry,
    read_registry,
    row_of,
    sorted_rows,
    write_registry,
)
from abyssexp.store.temporaries import TMP_PREFIX, remove_stale


@dataclass
class RepairReport:
    store: Path | StoreURL
    broken_registry_kept_as: str | None = None
    indexed: int = 0
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    aliases_assigned: list[str] = field(default_factory=list)
    sealed: list[str] = field(default_factory=list)
    records_completed: list[str] = field(default_factory=list)
    temporaries_removed: list[str] = field(default_factory=list)
    temporaries_left: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "store": str(self.store)}


def _dirs(folder: Path) -> list[Path]:
    return sorted(
        Path(e.path)
        for e in os.scandir(folder)
        if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
    )


def repair_store(store: Path, scratch: Path) -> RepairReport:
    """Rebuild the folder store's registry from its promoted folders; see the module docstring
    (``store.remote_repair`` for an object store, which shares the report and the rebuild)."""
    report = RepairReport(store)
    if not store.is_dir():
        return report
    with file_lock(store / LOCK_FILE, timeout=LOCK_TIMEOUT_S, what="store registry"):
        try:
            old: Registry | None = read_registry(store)
        except RegistryUnreadableError:
            old = None
            if (store / REGISTRY_FILE).exists():
                report.broken_registry_kept_as = str(_keep_aside(store / REGISTRY_FILE))
        rows, entries = _scan(store, old, report)
        data = rebuild_registry(old, rows, report)
        if data != old:
            write_registry(store, data)
    for folder, entry in entries:
        digest = read_manifest(folder).get(model_name(Path(str(entry.get("checkpoint")))))
        complete_record(folder, entry, report, scratch, digest)
    return report


def rebuild_registry(
    old: Registry | None, rows: list[RegistryRow], report: RepairReport
) -> Registry:
    """The registry indexing ``rows`` (one per promoted model found), keeping what ``old`` (None:
    unreadable) knew that the entries cannot tell; notes the differences in ``report``."""
    data = empty_registry()
    if old is not None:
        data = {**old, "models": []}
        names = {(r["project"], r["type"], r["name"]) for r in rows}
        data["aliases"] = {
            key: kept
            for key, aliases in old["aliases"].items()
            if (kept := {a: n for a, n in aliases.items() if (*key.split("/", 1), n) in names})
        }
    old_models: list[RegistryRow] = old["models"] if old is not None else []
    known = {m["path"] for m in old_models}
    before = {k: dict(v) for k, v in data["aliases"].items()}
    for row in sorted(rows, key=lambda r: (float(r.get("promoted_unix") or 0), r["name"])):
        index_row(data, row, assign_aliases=old is None or row["path"] not in known)
    data["models"] = sorted_rows(data["models"], old_models)
    report.indexed = len(data["models"])
    report.added = sorted(r["path"] for r in rows if r["path"] not in known)
    report.dropped = sorted(known - {r["path"] for r in rows})
    report.aliases_assigned = sorted(
        f"{key}:{alias} -> {name}"
        for key, aliases in data["aliases"].items()
        for alias, name in aliases.items()
        if before.get(key, {}).get(alias) != name
    )
    return data


def _keep_aside(registry: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = registry.with_name(f"{registry.name}.broken-{stamp}")
    number = 1
    while os.path.lexists(aside):
        aside = registry.with_name(f"{registry.name}.broken-{stamp}-{number}")
        number += 1
    atomic_copy(registry, aside)
    return aside


def _scan(
    store: Path, old: Registry | None, report: RepairReport
) -> tuple[list[RegistryRow], list[tuple[Path, dict[str, Any]]]]:
    """Registry rows of every promoted folder, and the (folder, entry) pairs they came from."""
    old_rows = {m["path"]: m for m in (old["models"] if old is not None else [])}
    rows: list[RegistryRow] = []
    entries: list[tuple[Path, dict[str, Any]]] = []
    for project_dir in _dirs(store):
        for type_dir in _dirs(project_dir):
            removed, left = remove_stale(type_dir)
            report.temporaries_removed += [str(t.path) for t in removed]
            report.temporaries_left += [{**t.to_json(), "why": t.describe()} for t in left]
            for entry_path in sorted(type_dir.iterdir()):
                if entry_path.name.startswith(TMP_PREFIX) or entry_path.name.startswith("."):
                    continue
                if entry_path.is_symlink():  # the link rule (owned.py): never followed
                    report.problems.append(
                        f"{entry_path}: a symlink in the store; not followed, its registry row "
                        "kept as it was. Replace it with the real folder"
                    )
                    if str(entry_path) in old_rows:
                        rows.append(old_rows[str(entry_path)])
                    continue
                if entry_path.is_dir():
                    row = _folder_row(entry_path, old_rows, report)
                    if row is not None:
                        rows.append(row)
                        if "entry_version" in row:
                            entries.append((entry_path, dict(row)))
    return rows, entries


def _folder_row(
    folder: Path, old_rows: dict[str, RegistryRow], report: RepairReport
) -> RegistryRow | None:
    if not (folder / MANIFEST).is_file():
        report.problems.append(f"{folder}: no {MANIFEST}, not a promoted folder; left alone")
        return None
    try:
        entry = read_entry(folder)
    except EntryUnreadableError as exc:
        if str(folder) in old_rows:
            report.problems.append(
                f"{folder}: {exc} (promoted by an older abyssexp?); kept its registry row, "
                "but it cannot be rebuilt if the registry is lost"
            )
            return old_rows[str(folder)]
        report.problems.append(f"{exc}; {folder} left out of the registry")
        return None
    location = (folder.parent.parent.name, folder.parent.name, folder.name)
    if (entry["project"], entry["type"], entry["name"]) != location:
        report.problems.append(
            f"{folder}: its entry.json names {entry['project']}/{entry['type']}/"
            f"{entry['name']} (moved by hand?); left out of the registry"
        )
        return None
    structural = verify_tree(folder, checksums=False)
    if any(p.startswith("writable") for p in structural):
        # Writable, so its files may have changed: only an intact folder is sealed again.
        changed = [p for p in verify_tree(folder) if p.startswith(("changed", "missing"))]
        if changed:
            report.problems.append(
                f"{folder}: writable and changed ({'; '.join(changed[:3])}); not sealed again. "
                f"Run `abyssexp verify {folder}`, then promote again or restore the files"
            )
            return row_of(entry, folder)
        seal_tree(folder)
        report.sealed.append(str(folder))
    for problem in verify_tree(folder, checksums=False):
        report.problems.append(f"{folder}: {problem}; run `abyssexp verify {folder}`")
    return row_of(entry, folder)


def complete_record(
    folder: Path | StoreURL,
    entry: Mapping[str, Any],
    report: RepairReport,
    scratch: Path,
    promoted_digest: str | None,
) -> None:
    """Record the promotion in its experiment's record when that is reachable from here.

    ``entry.json`` is a claim (the store may be a copy, or hand-edited): its ``scratch_path`` must
    be the experiment it names under this ``scratch`` root, and that experiment's checkpoint must
    be the one promoted (``promoted_digest``, the manifest's sha256), before its record is
    changed. A record that already lists this promotion (same time and checkpoint) elsewhere is
    left as it is: ``folder`` is a copy of that promotion, not a missing one.
    """
    try:
        paths = _promoted_experiment(dict(entry), scratch, promoted_digest)
    except (OutsideOwnedFolderError, ExperimentStateError) as exc:
        report.problems.append(f"{folder}: {exc}; its promotion was not recorded")
        return
    if paths is None:
        return  # another scratch's or host's experiment, or removed: not reachable from here
    try:
        if record_promotion_once(paths, folder, entry):
            report.records_completed.append(str(paths.record))
    except RecordUnreadableError as exc:
        report.problems.append(f"{exc}; its promotion to {folder} was not recorded")


def _promoted_experiment(
    entry: dict[str, Any], scratch: Path, promoted_digest: str | None
) -> ExperimentPaths | None:
    """The experiment ``entry`` claims it promoted, checked; None when it is not under
    ``scratch`` or gone, or already lists this promotion.

    Raises:
        OutsideOwnedFolderError: its path leaves the scratch or names another experiment.
        ExperimentStateError: its checkpoint is not the promoted one, or its record unreadable.
    """
    where = path_read_from_file(entry.get("scratch_path"), scratch, "entry.json scratch_path")
    if where is None:
        return None
    paths = ExperimentPaths(where)
    claimed = Path(scratch, entry["project"], entry["type"], entry["name"])
    if Path(os.path.abspath(where)) != Path(os.path.abspath(claimed)):
        raise OutsideOwnedFolderError(
            f"entry.json scratch_path {where} is not the experiment it names ({claimed})"
        )
    if not paths.record.is_file() or paths.record.is_symlink():
        return None
    checkpoint = entry.get("checkpoint")
    if any(
        p.time == entry.get("promoted") and p.checkpoint == checkpoint
        for p in read_record(paths.record).promotions
    ):
        return None  # recorded already, under the path of the store this one was copied from
    file = paths.models / str(checkpoint)
    if (
        not isinstance(checkpoint, str)
        or Path(checkpoint).name != checkpoint
        or promoted_digest is None
        or not file.is_file()
        or file.is_symlink()
        or sha256_file(file) != promoted_digest
    ):
        raise ExperimentStateError(
            f"{paths.models}: holds no checkpoint {checkpoint!r} identical to the promoted one, "
            "so the promotion cannot be checked against the experiment"
        )
    return paths

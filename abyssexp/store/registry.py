"""The store registry: ``registry.json`` at the store root, an index of the promoted folders.

Each promoted folder carries its own ``entry.json`` (listed in its manifest); the registry holds
one row per promoted folder (its entry plus ``path``) and the aliases. It is changed only under
``.registry.lock``: concurrent promotions (from several shells or machines sharing the store) each
take the lock, read, change and atomically rewrite the file, so no row is lost. A registry that
does not parse stops every command that reads or writes it (``RegistryUnreadableError``) and is
never rewritten from an empty reading; ``abyssexp store repair`` rebuilds it from the entries.

On an object store (``s3://``) the entries (``<project>/<type>/<name>/entry.json``) are the truth
and ``registry.json`` an index object rewritten by compare-and-swap: ``store.remote_registry``.
The registry's shape, its rows and the alias rules here serve both (``store.backend``).

Aliases (``production``, ``candidate``...) are per project/type. An alias points at the most
recently promoted model (by its entry's ``promoted_unix``) that asked for it, whatever order the
registrations reach the lock in, so the registry and a rebuild from the entries always agree.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from abyssexp.atomic import atomic_write_json
from abyssexp.config import StoreURL
from abyssexp.errors import StoreError
from abyssexp.experiment.promoted import ENTRY_FILE as ENTRY_FILE  # re-exported
from abyssexp.jsonio import read_input_bytes
from abyssexp.locks import file_lock
from abyssexp.schemas.registry import REGISTRY_VERSION as REGISTRY_VERSION  # re-exported
from abyssexp.schemas.registry import Registry, RegistryRow, registry_problem
from abyssexp.schemas.store_entry import MAX_ENTRY_BYTES, StoreEntry, parse_entry
from abyssexp.store.manifest import MANIFEST, read_manifest

REGISTRY_FILE = "registry.json"
LOCK_FILE = ".registry.lock"
LOCK_TIMEOUT_S = 120.0
#: A registry change: edits the registry dict in place (it may run more than once).
Change = Callable[[Registry], None]


class RegistryUnreadableError(StoreError):
    """registry.json does not parse or does not have the registry's shape."""


class EntryUnreadableError(StoreError):
    """A promoted folder's entry.json is missing, does not parse or differs from the manifest."""


def repair_hint(store: Path) -> str:
    return (
        f"run `abyssexp store repair --store {store}` to rebuild it from the promoted folders "
        "(the broken file is kept beside it)"
    )


def _unreadable(store: Path, problem: str) -> RegistryUnreadableError:
    return RegistryUnreadableError(
        f"{store / REGISTRY_FILE}: {problem}; nothing was changed; {repair_hint(store)}"
    )


def empty_registry() -> Registry:
    return {"version": REGISTRY_VERSION, "models": [], "aliases": {}}


def read_registry(store: Path) -> Registry:
    """The registry of the folder store ``store``; empty when it holds nothing yet.

    Raises:
        RegistryUnreadableError: it does not parse, has the wrong shape, or is missing while the
            store holds promoted folders.
    """
    path = store / REGISTRY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if any(store.glob(f"*/*/*/{MANIFEST}")):
            raise _unreadable(store, "missing, but the store holds promoted folders") from None
        return empty_registry()
    except OSError as exc:
        raise _unreadable(store, f"cannot be read ({exc.strerror})") from None
    data = parse_registry(raw, lambda problem: _unreadable(store, problem))
    for model in data["models"]:
        model["path"] = str(store / row_relative(model["path"], lambda p: _unreadable(store, p)))
    return data


def row_relative(text: str, unreadable: Callable[[str], RegistryUnreadableError]) -> Path:
    """``PROJECT/TYPE/NAME`` of a registry row's ``path``: rows hold it relative to the store
    root, so the same store reached by another path (a link, another mount, a copy) is one
    store. Rows of older versions held the absolute path: its last three parts are taken.

    Raises:
        RegistryUnreadableError: not three plain parts (a name read from a file never climbs
            out of the store with ``..`` or an absolute path).
    """
    parts = Path(text).parts[-3:] if Path(text).is_absolute() else Path(text).parts
    if len(parts) != 3 or any(part in ("", ".", "..") for part in parts):
        raise unreadable(f"row path {text!r}: expected PROJECT/TYPE/NAME")
    return Path(*parts)


def write_registry(store: Path, data: Registry) -> None:
    """Write ``data`` (rows with absolute paths, as read) with each row's path relative to the
    store root; the caller holds the lock."""

    def unreadable(problem: str) -> RegistryUnreadableError:
        return _unreadable(store, problem)

    rows = [{**m, "path": str(row_relative(m["path"], unreadable))} for m in data["models"]]
    atomic_write_json(store / REGISTRY_FILE, {**data, "models": rows})


def parse_registry(raw: bytes, unreadable: Callable[[str], RegistryUnreadableError]) -> Registry:
    """The registry in ``raw``, its shape checked; ``unreadable(problem)`` makes the error."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise unreadable(f"does not parse ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise unreadable(f"expected a JSON object. Received: {type(data).__name__}")
    data.setdefault("version", REGISTRY_VERSION)
    data.setdefault("models", [])
    data.setdefault("aliases", {})
    problem = registry_problem(data)
    if problem:
        raise unreadable(problem)
    return cast(Registry, data)  # validated as one just above


def prepare_registry(store: Path) -> Registry:
    """The registry, created empty first when the store has none yet (a promotion's plan step).

    Once it exists, a missing registry means a deleted one, so ``update_registry`` stops.
    """
    if (store / REGISTRY_FILE).exists():
        return read_registry(store)
    store.mkdir(parents=True, exist_ok=True)
    with file_lock(store / LOCK_FILE, timeout=LOCK_TIMEOUT_S, what="store registry"):
        data = read_registry(store)
        if not (store / REGISTRY_FILE).exists():
            write_registry(store, data)
        return data


def update_registry(store: Path, change: Change, via: str = "promote") -> Registry:
    """Apply ``change`` to the registry under its lock and rewrite it atomically; every alias
    it moves gets a line in the append-only ``alias-history.jsonl`` (``via`` says by what).
    (An object store: a compare-and-swap instead of the lock, ``store.remote_registry``.)

    Raises:
        RegistryUnreadableError: the registry is missing or does not parse (it is left as it is).
        ExperimentStateError: the lock was not free within ``LOCK_TIMEOUT_S``.
    """
    if not (store / REGISTRY_FILE).exists():  # no lock file is created in a store that is not one
        raise _unreadable(store, "missing (no promotion made it a store yet)")
    with file_lock(store / LOCK_FILE, timeout=LOCK_TIMEOUT_S, what="store registry"):
        if not (store / REGISTRY_FILE).exists():
            raise _unreadable(store, "missing (deleted since this command started)")
        data = read_registry(store)
        before = copy.deepcopy(data["aliases"])
        change(data)
        write_registry(store, data)
        from abyssexp.store.aliases import record_moves

        record_moves(store, before, data["aliases"], via)
        return data


def read_entry(folder: Path) -> StoreEntry:
    """A promoted folder's ``entry.json``, checked against the folder's manifest.

    Raises:
        EntryUnreadableError: missing, not JSON, or its sha256 is not the manifest's.
    """
    path = folder / ENTRY_FILE
    if path.is_symlink():
        raise EntryUnreadableError(f"{path}: differs from {folder / MANIFEST}")
    if not path.exists():
        raise EntryUnreadableError(f"{path}: missing")
    raw = read_input_bytes(path, str(path), EntryUnreadableError, MAX_ENTRY_BYTES)
    try:
        entry = parse_entry(raw)
        listed = read_manifest(folder).get(ENTRY_FILE)
    except FileNotFoundError as exc:
        raise EntryUnreadableError(f"{exc.filename}: missing") from None
    except (ValueError, OSError) as exc:
        raise EntryUnreadableError(f"{path}: cannot be read ({exc})") from None
    if listed is None or hashlib.sha256(raw).hexdigest() != listed:
        raise EntryUnreadableError(f"{path}: differs from {folder / MANIFEST}")
    return entry


def row_of(entry: Mapping[str, Any], folder: Path | StoreURL) -> RegistryRow:
    """The registry row of a promoted folder (or object prefix): its entry and where it is."""
    return cast(RegistryRow, {**entry, "path": str(folder)})  # an entry has name (its schema)


def _order(row: RegistryRow) -> tuple[float, str]:
    return float(row.get("promoted_unix") or 0.0), str(row.get("name"))


def index_row(data: Registry, row: RegistryRow, *, assign_aliases: bool = True) -> None:
    """Add (or replace, by path) one row; give it the aliases it asked for at promotion unless a
    more recently promoted model holds them."""
    data["models"] = [m for m in data["models"] if m.get("path") != row["path"]] + [row]
    if not assign_aliases:
        return
    key = f"{row['project']}/{row['type']}"
    for alias in row.get("aliases_at_promotion") or []:
        names = data["aliases"].setdefault(key, {})
        holder = next(
            (
                m
                for m in data["models"]
                if f"{m.get('project')}/{m.get('type')}" == key and m["name"] == names.get(alias)
            ),
            None,
        )
        if holder is None or _order(holder) <= _order(row):
            names[alias] = row["name"]


def find_row(data: Registry, folder: Path | StoreURL) -> RegistryRow | None:
    return next((m for m in data["models"] if m.get("path") == str(folder)), None)


def promoted_rows(
    data: Registry, project: str | None = None, experiment_type: str | None = None
) -> list[dict[str, Any]]:
    """The rows of registry ``data`` (of one project and type, when given), each with the
    aliases that point at it now (``StoreBackend.list_promoted``)."""
    rows = []
    for model in data["models"]:
        if project and model.get("project") != project:
            continue
        if experiment_type and model.get("type") != experiment_type:
            continue
        key = f"{model.get('project')}/{model.get('type')}"
        aliases = sorted(
            a for a, name in data["aliases"].get(key, {}).items() if name == model["name"]
        )
        rows.append({**model, "aliases": aliases})
    return rows


def sorted_rows(rows: Iterable[RegistryRow], before: list[RegistryRow]) -> list[RegistryRow]:
    """``rows`` in the order of ``before`` (by path), new ones after by promotion time."""
    position = {m.get("path"): i for i, m in enumerate(before)}
    return sorted(rows, key=lambda m: (position.get(m["path"], len(position)), _order(m)))


def alias_path(data: Registry, reference: str, store: object) -> str:
    """``project/type@alias`` → the ``path`` of the row the alias points at in registry
    ``data`` of ``store`` (``StoreBackend.resolve_alias`` makes it a folder or a URL).

    Raises:
        InvalidInputError: not of that form, or no such alias (the known ones are listed).
    """
    from abyssexp.errors import InvalidInputError

    location, _, alias = reference.partition("@")
    if location.count("/") != 1 or not alias:
        raise InvalidInputError(
            f"{reference!r}: an alias reference is PROJECT/TYPE@ALIAS, e.g. shapes/demo@production"
        )
    names = data["aliases"].get(location, {})
    if alias not in names:
        known = ", ".join(sorted(names)) or "none"
        raise InvalidInputError(
            f"{reference}: no alias {alias!r} for {location} in {store} (aliases: {known})"
        )
    project, experiment_type = location.split("/")
    for model in data["models"]:
        if (model.get("project"), model.get("type"), model.get("name")) == (
            project,
            experiment_type,
            names[alias],
        ):
            return str(model["path"])
    raise InvalidInputError(f"{reference}: the alias points at {names[alias]}, not in the registry")

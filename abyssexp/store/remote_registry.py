"""The registry and alias history of an object-storage store (``s3://BUCKET/PREFIX``).

Object stores have no rename, no append and no lock, so:

* **The entries are the truth.** A promotion is visible once its ``<project>/<type>/<name>/
  entry.json`` exists; that object is written last, and only if absent (``If-None-Match: *``).
* **``registry.json`` is an index object**, rewritten by compare-and-swap: read it with its ETag,
  apply the change, write it back with ``If-Match: <ETag>``; when another process wrote it in
  between, the write fails and the change is applied again to the new registry (backing off, for
  ``LOCK_TIMEOUT_S`` at most). Two promotions at once both land: each keeps the other's row. No
  lock object exists that a killed process could leave behind.
* **The alias history** is one object per registry change that moves aliases,
  ``alias-history/<UTC time>-<random>.jsonl``, written after the registry; read in name order
  (clocks of different hosts may disagree by their skew). A kill between the two loses that
  history line, as a kill between the registry rename and the append does on a folder store.

``abyssexp store repair`` rebuilds the registry from the entries (``store.remote_repair``).
"""

from __future__ import annotations

import copy
import json
import random
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from abyssexp.config import StoreURL
from abyssexp.errors import ExperimentStateError, StoreError
from abyssexp.schemas.alias_history import AliasMove, parse_moves
from abyssexp.schemas.registry import Registry
from abyssexp.store.aliases import alias_moves
from abyssexp.store.objectstore import ObjectStore, connect
from abyssexp.store.registry import (
    LOCK_TIMEOUT_S,
    REGISTRY_FILE,
    Change,
    RegistryUnreadableError,
    empty_registry,
    parse_registry,
)

HISTORY_PREFIX = "alias-history/"
ENTRY_KEY_RE = re.compile(r"^(?P<project>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)/entry\.json$")


def encode(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()


def unreadable(objects: ObjectStore, problem: str) -> RegistryUnreadableError:
    return RegistryUnreadableError(
        f"{objects.url(REGISTRY_FILE)}: {problem}; nothing was changed; run `abyssexp store "
        f"repair --store {objects.root}` to rebuild it from the promoted entries (the broken "
        "object is kept beside it)"
    )


def entry_keys(objects: ObjectStore) -> list[str]:
    """The key of every promoted entry in the store (one listing of the whole store)."""
    return sorted(key for key in objects.list() if ENTRY_KEY_RE.match(key))


def read_tagged(objects: ObjectStore) -> tuple[Registry, str | None]:
    """The registry and its ETag (None: there is none yet, and the store holds no entry).

    Raises:
        RegistryUnreadableError: it does not parse, or is missing while entries exist.
    """
    got = objects.read_tagged(REGISTRY_FILE)
    if got is None:
        if entry_keys(objects):
            raise unreadable(objects, "missing, but the store holds promoted entries")
        return empty_registry(), None
    raw, etag = got
    return parse_registry(raw, lambda problem: unreadable(objects, problem)), etag


def read_registry(store: StoreURL) -> Registry:
    return read_tagged(connect(store))[0]


def prepare_registry(store: StoreURL | ObjectStore) -> Registry:
    """The registry, created empty (only if absent) when the store has none yet."""
    objects = store if isinstance(store, ObjectStore) else connect(store)
    data, etag = read_tagged(objects)
    if etag is None and not objects.create(REGISTRY_FILE, encode(data)):
        data, _ = read_tagged(objects)  # another promotion created it just now
    return data


def update_registry(
    store: StoreURL | ObjectStore, change: Change, via: str = "promote"
) -> Registry:
    """Apply ``change`` to the registry by compare-and-swap (module docstring), then write the
    history object of the aliases it moved. ``change`` may run more than once, each time on the
    registry as it is then.

    Raises:
        RegistryUnreadableError: the registry is missing or does not parse (left as it is).
        ExperimentStateError: other processes kept changing it for ``LOCK_TIMEOUT_S``.
    """
    objects = store if isinstance(store, ObjectStore) else connect(store)
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    delay = 0.05
    while True:
        got = objects.read_tagged(REGISTRY_FILE)
        if got is None:
            raise unreadable(objects, "missing (deleted since this command started)")
        data = parse_registry(got[0], lambda problem: unreadable(objects, problem))
        before = copy.deepcopy(data["aliases"])
        change(data)
        if objects.replace(REGISTRY_FILE, encode(data), got[1]):
            write_moves(objects, alias_moves(before, data["aliases"], via))
            return data
        if time.monotonic() > deadline:
            raise ExperimentStateError(
                f"{objects.url(REGISTRY_FILE)}: changed by other processes at every try for "
                f"{LOCK_TIMEOUT_S:.0f} s; try again"
            )
        time.sleep(delay * (1 + random.random()))  # noqa: S311 (jitter, not security)
        delay = min(delay * 2, 1.0)


def write_moves(objects: ObjectStore, lines: list[dict[str, Any]]) -> None:
    if not lines:
        return
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9)) + f".{now % 10**9:09d}Z"
    key = f"{HISTORY_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
    objects.write(key, "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode())


def read_moves(store: StoreURL) -> list[AliasMove]:
    """Every alias move of the store, oldest first."""
    objects = connect(store)
    moves: list[AliasMove] = []
    for key in sorted(objects.list(HISTORY_PREFIX.rstrip("/"))):
        raw = objects.read(f"{HISTORY_PREFIX}{key}") or b""
        where = objects.url(HISTORY_PREFIX + key)
        try:
            moves += parse_moves(raw.decode("utf-8", "replace"), where, "fix or remove that object")
        except ValueError as exc:
            raise StoreError(str(exc)) from None
    return moves

"""``abyssexp promote`` to an object store (``s3://``), as a transaction without rename.

The steps, each recoverable if the process dies after it:

1. plan: as for a folder store (``promote.check_request``), then the registry must parse.
2. claim ``<project>/<type>/<name>/`` (``store.remote_claims``); a dead promotion's uploads there
   are removed first.
3. upload every file, then read each one back and compare its sha256 with the source's (an ETag
   is not a content hash for multipart uploads, so nothing is taken on trust), then write
   ``MANIFEST.sha256`` (listing ``entry.json`` too) and read it back.
4. commit: write ``entry.json`` only if absent (``If-None-Match: *``). This one object makes the
   promotion visible; nothing in the prefix is ever written again.
5. release the claim, register (compare-and-swap on ``registry.json``), record the promotion in
   the experiment's record, then ``--move``.

A kill before step 4 leaves a claimed prefix without ``entry.json``: invisible to ``promoted``
(which reads the registry) and to ``predict``/``export`` (which need the entry), removed by the
next promotion of that name or ``store repair``. A kill after it leaves a committed promotion
that the same ``promote`` again, or ``store repair``, registers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from abyssexp.config import StoreURL
from abyssexp.errors import ExperimentStateError, StoreError
from abyssexp.hashing import sha256_file
from abyssexp.schemas.process_owner import parse_owner
from abyssexp.schemas.registry import Registry
from abyssexp.schemas.store_entry import StoreEntry, parse_entry
from abyssexp.store.manifest import MANIFEST
from abyssexp.store.objectstore import ObjectStore, connect
from abyssexp.store.promotion import (
    Progress,
    PromoteResult,
    PromotionRequest,
    check_same_request,
    fault_point,
    free_unpromoted_checkpoints,
    model_name,
    new_entry,
    plan_files,
    progress_counter,
    record_promotion_once,
)
from abyssexp.store.registry import (
    ENTRY_FILE,
    EntryUnreadableError,
    RegistryUnreadableError,
    find_row,
    index_row,
    row_of,
)
from abyssexp.store.remote_claims import claim_key, claimed_prefix, owner_state
from abyssexp.store.remote_registry import encode, prepare_registry, update_registry
from abyssexp.store.temporaries import LIVE

#: Where ``ABYSSEXP_FAULT_AT`` (``promotion.FAULT_ENV``) can kill a promotion to an object store.
REMOTE_FAULT_STEPS = ("copied-one-file", "uploaded", "committed", "registered", "recorded")


def parse_manifest(raw: bytes) -> dict[str, str]:
    entries = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.strip():
            digest, _, relative = line.partition("  ")
            entries[relative] = digest
    return entries


def read_entry(objects: ObjectStore, key: str) -> StoreEntry:
    """The entry of the promoted model at ``key`` (``""``: the store's root is the model),
    checked against its manifest.

    Raises:
        EntryUnreadableError: missing, not JSON, or not the manifest's.
    """
    prefix = f"{key}/" if key else ""
    raw, manifest = objects.read(prefix + ENTRY_FILE), objects.read(prefix + MANIFEST)
    where = objects.url(prefix + ENTRY_FILE)
    if raw is None or manifest is None:
        missing = ENTRY_FILE if raw is None else MANIFEST
        raise EntryUnreadableError(f"{objects.url(prefix + missing)}: missing")
    try:
        entry = parse_entry(raw)
    except ValueError as exc:
        raise EntryUnreadableError(f"{where}: {exc}") from None
    if parse_manifest(manifest).get(ENTRY_FILE) != hashlib.sha256(raw).hexdigest():
        raise EntryUnreadableError(f"{where}: differs from {objects.url(prefix + MANIFEST)}")
    return entry


def promote_to_object_store(
    request: PromotionRequest,
    store: StoreURL,
    move: bool = False,
    progress: Progress | None = None,
    exports: Path | None = None,
) -> PromoteResult:
    """Steps 1 to 5 of the module docstring for a checked request
    (``ObjectStoreBackend.promote``); ``exports``: a folder of exports made beforehand.

    Raises:
        StoreError: already promoted, being promoted elsewhere, a checksum that differs after
            upload, an unreadable registry, or the store cannot be reached.
    """
    objects = connect(store)
    paths = request.paths
    type_key = f"{request.project}/{request.experiment_type}"
    key = f"{type_key}/{paths.name}"
    registry = prepare_registry(objects)  # a broken registry stops us before anything changes
    if objects.exists(f"{key}/{ENTRY_FILE}"):
        return _finish_interrupted(request, objects, key, registry, move)
    plan = plan_files(paths, request.checkpoint, exports)
    total = sum(source.stat().st_size for source, _ in plan)
    entry = new_entry(request, total)
    with claimed_prefix(objects, type_key, paths.name):
        entry_bytes = _upload(objects, key, plan, entry, progress_counter(total, progress))
        fault_point("uploaded")
        if not objects.create(f"{key}/{ENTRY_FILE}", entry_bytes):
            raise StoreError(
                f"{store.child(key)}: already promoted; promotions are never overwritten"
            )
        fault_point("committed")
    if objects.sha256(f"{key}/{ENTRY_FILE}") != hashlib.sha256(entry_bytes).hexdigest():
        raise StoreError(
            f"{store.child(key)}: entry.json differs after writing; run `abyssexp verify`"
        )
    freed = _complete(request, objects, key, entry, move)
    return PromoteResult(
        store.child(key), request.checkpoint.name, len(plan) + 2, total, request.aliases, freed
    )


def _upload(
    objects: ObjectStore,
    key: str,
    plan: list[tuple[Path, str]],
    entry: Mapping[str, Any],
    advance: Callable[[int], None],
) -> bytes:
    """Upload, read back and compare every file, then the manifest; returns the entry's bytes."""
    digests = {}
    for source, relative in plan:
        digests[relative] = sha256_file(source)
        objects.upload(source, f"{key}/{relative}", advance)
        fault_point("copied-one-file")
    for source, relative in plan:
        back = objects.sha256(f"{key}/{relative}")
        if back != digests[relative]:
            raise StoreError(
                f"{objects.url(f'{key}/{relative}')}: sha256 read back ({back}) differs from "
                f"{source} ({digests[relative]}); changed while uploading? promote again"
            )
    entry_bytes = encode(entry)
    digests[ENTRY_FILE] = hashlib.sha256(entry_bytes).hexdigest()
    manifest = "".join(f"{digests[r]}  {r}\n" for r in sorted(digests)).encode()
    objects.write(f"{key}/{MANIFEST}", manifest)
    if objects.sha256(f"{key}/{MANIFEST}") != hashlib.sha256(manifest).hexdigest():
        raise StoreError(
            f"{objects.url(f'{key}/{MANIFEST}')}: differs after writing; promote again"
        )
    return entry_bytes


def _register(objects: ObjectStore, destination: StoreURL, entry: Mapping[str, Any]) -> None:
    try:
        update_registry(objects, lambda data: index_row(data, row_of(entry, destination)))
    except (ExperimentStateError, RegistryUnreadableError) as exc:
        raise StoreError(
            f"{exc}; {destination} is promoted but not registered yet: rerun the same `abyssexp "
            f"promote` (or run `abyssexp store repair --store {objects.root}`) to finish"
        ) from None


def _complete(
    request: PromotionRequest, objects: ObjectStore, key: str, entry: Mapping[str, Any], move: bool
) -> int:
    """Register, record, then ``--move``; each is idempotent."""
    destination = objects.root.child(key)
    _register(objects, destination, entry)
    fault_point("registered")
    record_promotion_once(request.paths, destination, entry)
    fault_point("recorded")
    keep = {request.checkpoint.name}
    return free_unpromoted_checkpoints(request.paths, keep) if move else 0


def _remove_leftover_claim(objects: ObjectStore, key: str) -> None:
    """A committed promotion's claim left by a kill: nobody writes to the prefix any more."""
    type_key, _, name = key.rpartition("/")
    claim = claim_key(type_key, name)
    raw = objects.read(claim)
    if raw is not None and owner_state(parse_owner(raw)) != LIVE:
        objects.delete([claim])


def _finish_interrupted(
    request: PromotionRequest,
    objects: ObjectStore,
    key: str,
    registry: Registry,
    move: bool,
) -> PromoteResult:
    """The entry exists: finish it when it is this request's interrupted promotion."""
    destination = objects.root.child(key)
    already = f"{destination}: already promoted; promotions are never overwritten"
    registered = find_row(registry, destination) is not None
    try:
        entry = read_entry(objects, key)
    except EntryUnreadableError as exc:
        if registered:
            raise StoreError(already) from None
        raise StoreError(
            f"{exc}; run `abyssexp verify {destination}` to see what is wrong"
        ) from None
    paths, freed = request.paths, 0
    if registered:
        if entry.get("scratch_path") != str(paths.root):
            raise StoreError(already)
        if not record_promotion_once(paths, destination, entry):
            raise StoreError(already)
        if move:
            freed = free_unpromoted_checkpoints(paths, {request.checkpoint.name})
    else:
        manifest = parse_manifest(objects.read(f"{key}/{MANIFEST}") or b"")
        promoted = manifest.get(model_name(request.checkpoint))
        check_same_request(
            destination, entry, paths, request.checkpoint, request.aliases, promoted, objects.root
        )
        problems = verify_object_prefix(destination)
        if problems:
            raise StoreError(
                f"{destination}: an interrupted promotion that does not verify ({problems[0]}); "
                f"inspect it with `abyssexp verify {destination}`"
            )
        _remove_leftover_claim(objects, key)
        freed = _complete(request, objects, key, entry, move)
    return PromoteResult(
        destination,
        str(entry.get("checkpoint")),
        len(parse_manifest(objects.read(f"{key}/{MANIFEST}") or b"")) + 1,
        int(entry.get("bytes") or 0),
        list(entry.get("aliases_at_promotion") or []),
        freed,
        finished_interrupted=True,
    )


def verify_object_prefix(model: StoreURL) -> list[str]:
    """Problems found comparing the objects under ``model`` with its manifest (empty: intact).

    Every object is read back and hashed: what is checked is what a download would get.
    """
    objects = connect(model)
    raw = objects.read(MANIFEST)
    if raw is None:
        return [f"no {MANIFEST}; not a promoted model (check the URL with `abyssexp promoted`)"]
    expected = parse_manifest(raw)
    listing = objects.list()
    problems = []
    for relative, digest in sorted(expected.items()):
        if relative not in listing:
            why = " (never committed: an interrupted promotion)" if relative == ENTRY_FILE else ""
            problems.append(f"missing: {relative}{why}")
        elif objects.sha256(relative) != digest:
            problems.append(f"changed: {relative} (sha256 differs from the manifest)")
    for relative in sorted(set(listing) - set(expected) - {MANIFEST}):
        problems.append(f"unexpected: {relative} (not in the manifest)")
    return problems

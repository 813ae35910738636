"""``abyssexp promote`` into a folder store: copy a validated model from scratch, as a transaction.

The steps, each recoverable if the process dies after it:

1. plan: check requirements, checkpoint, aliases and (``--move``) that ``models/`` is a real
   folder (``promotion.check_request``), and that the registry parses. Nothing changes before.
2. stage: copy into an owned temporary folder in the store (``store.temporaries``), write the
   folder's ``entry.json``, verify every checksum, write ``MANIFEST.sha256``, fsync, make the files
   read-only. A kill leaves a stale temporary that the next promotion or ``store repair`` removes.
3. rename the temporary into place (atomic: the destination is never half-copied).
4. seal: folders read-only (0555) bottom-up.
5. register: add the folder's entry to ``registry.json`` (under its lock), aliases included.
6. record the promotion in the experiment's record; then ``--move`` frees scratch checkpoints.

A kill (or a registry lock that never came free) after step 3 leaves a complete promotion that is
not registered yet: the same ``promote`` again finds it, checks it is this experiment's checkpoint
and intact, and does steps 4 to 6; ``store repair`` does 4 to 6 for every such folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from abyssexp.atomic import flush, fsync_dir
from abyssexp.errors import ExperimentStateError, StoreError
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.hashing import CHUNK, sha256_file
from abyssexp.owned import check_path, make_dirs, own_root
from abyssexp.schemas.registry import Registry
from abyssexp.store.manifest import MANIFEST, read_manifest, seal_tree, verify_tree
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
    LOCK_TIMEOUT_S,
    REGISTRY_FILE,
    EntryUnreadableError,
    RegistryUnreadableError,
    find_row,
    index_row,
    prepare_registry,
    read_entry,
    row_of,
    update_registry,
)
from abyssexp.store.temporaries import (
    TMP_PREFIX,  # noqa: F401  (re-exported: the prefix of a promotion's temporary folder)
    claimed_temporary,
    owner_file_of,  # noqa: F401  (re-exported for tests and tools)
    remove_stale,
)


def _copy_with_digest(source: Path, target: Path, progress: Callable[[int], None]) -> str:
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as reader, open(target, "wb") as writer:
        for block in iter(lambda: reader.read(CHUNK), b""):
            digest.update(block)
            writer.write(block)
            progress(len(block))
        writer.flush()
        flush(writer.fileno())
    return digest.hexdigest()


def _write_synced(target: Path, data: bytes) -> str:
    with open(target, "wb") as handle:
        handle.write(data)
        handle.flush()
        flush(handle.fileno())
    return hashlib.sha256(data).hexdigest()


def clean_stale_temporaries(folder: Path) -> None:
    """Remove the temporaries of killed promotions of this host (``store.temporaries``)."""
    remove_stale(folder)


def _stage(
    temporary: Path,
    plan: list[tuple[Path, str]],
    entry: Mapping[str, Any],
    advance: Callable[[int], None],
) -> None:
    """Copy, write the entry and the manifest, verify, fsync, make the files read-only."""
    digests = {}
    for source, relative in plan:
        digests[relative] = _copy_with_digest(source, temporary / relative, advance)
        fault_point("copied-one-file")
    digests[ENTRY_FILE] = _write_synced(
        temporary / ENTRY_FILE, (json.dumps(entry, indent=2) + "\n").encode()
    )
    for relative, digest in digests.items():
        if sha256_file(temporary / relative) != digest:
            raise StoreError(
                f"{temporary / relative}: checksum differs after copying; disk problem?"
            )
    manifest = "".join(f"{digests[r]}  {r}\n" for r in sorted(digests))
    _write_synced(temporary / MANIFEST, manifest.encode())
    for dirpath, _dirs, _names in os.walk(temporary, topdown=False):
        fsync_dir(Path(dirpath))
    for dirpath, _dirs, names in os.walk(temporary):
        for name in names:
            os.chmod(Path(dirpath) / name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _register(store: Path, destination: Path, entry: Mapping[str, Any]) -> None:
    try:
        update_registry(store, lambda data: index_row(data, row_of(entry, destination)))
    except (ExperimentStateError, RegistryUnreadableError) as exc:
        why = (
            f"locked by another process for {LOCK_TIMEOUT_S:.0f} s"
            if isinstance(exc, ExperimentStateError)
            else "missing or does not parse"
        )
        raise StoreError(
            f"{store / REGISTRY_FILE}: {why}, so {destination} is complete in the store but not "
            "registered yet; rerun the same `abyssexp promote` (or run `abyssexp store repair "
            f"--store {store}`) to finish"
        ) from None


def destination_of(request: PromotionRequest, store: Path) -> Path:
    """Where ``request`` is promoted in the folder store ``store``, checked to be reached
    without a folder link (``owned.check_path``).

    Raises:
        OutsideOwnedFolderError: a linked project or type folder, or a linked destination.
    """
    destination = own_root(store) / request.project / request.experiment_type / request.paths.name
    check_path(destination, verb="promote into", final=True)
    return destination


def promote_to_folder(
    request: PromotionRequest,
    store: Path,
    move: bool = False,
    progress: Progress | None = None,
    exports: Path | None = None,
) -> PromoteResult:
    """Steps 1 to 6 of the module docstring for a checked request (``FolderStore.promote``).

    Args:
        request: from ``promotion.check_request``.
        store: the store root folder.
        move: then free the scratch checkpoints that were not promoted.
        progress: called with (bytes copied, bytes in all).
        exports: a folder of exports made beforehand, carried under ``export/``.

    Returns:
        Where it went and what it carried.

    Raises:
        StoreError: a broken registry, or a conflict with what the store holds.
    """
    paths = request.paths
    checkpoint_path, aliases = request.checkpoint, request.aliases
    destination = destination_of(request, store)
    type_dir = destination.parent
    registry = prepare_registry(store)  # a broken registry stops us before anything changes
    if os.path.lexists(destination):
        return _finish_interrupted(
            paths, store, destination, checkpoint_path, aliases, registry, move
        )
    make_dirs(type_dir)  # never through a symlinked project or type folder (owned.py)
    clean_stale_temporaries(type_dir)
    plan = plan_files(paths, checkpoint_path, exports)
    total = sum(source.stat().st_size for source, _ in plan)
    entry = new_entry(request, total)
    advance = progress_counter(total, progress)

    with claimed_temporary(type_dir, paths.name) as temporary:
        _stage(temporary, plan, entry, advance)
        fault_point("staged")
        if os.path.lexists(destination):
            raise StoreError(f"{destination}: already promoted; promotions are never overwritten")
        try:
            os.rename(temporary, destination)
        except OSError as exc:
            raise StoreError(f"{destination}: already promoted ({exc.strerror})") from None
        fsync_dir(type_dir)
    fault_point("renamed")
    freed = _complete(paths, store, destination, entry, checkpoint_path, move)
    return PromoteResult(destination, checkpoint_path.name, len(plan) + 2, total, aliases, freed)


def _complete(
    paths: ExperimentPaths,
    store: Path,
    destination: Path,
    entry: Mapping[str, Any],
    checkpoint_path: Path,
    move: bool,
) -> int:
    """Steps 4 to 6: seal, register, record, then ``--move``; each is idempotent."""
    seal_tree(destination)
    fault_point("sealed")
    _register(store, destination, entry)
    fault_point("registered")
    record_promotion_once(paths, destination, entry)
    fault_point("recorded")
    return free_unpromoted_checkpoints(paths, keep={checkpoint_path.name}) if move else 0


def _finish_interrupted(
    paths: ExperimentPaths,
    store: Path,
    destination: Path,
    checkpoint_path: Path,
    aliases: list[str],
    registry: Registry,
    move: bool,
) -> PromoteResult:
    """The destination exists: finish it when it is this request's interrupted promotion."""
    already = f"{destination}: already promoted; promotions are never overwritten"
    try:
        entry = read_entry(destination)
    except EntryUnreadableError as exc:
        if find_row(registry, destination) is not None:
            raise StoreError(already) from None
        raise StoreError(
            f"{exc}; {destination} exists but is not registered: run `abyssexp store repair "
            f"--store {store}` to see why"
        ) from None
    same_source = entry.get("scratch_path") == str(paths.root)
    registered = find_row(registry, destination) is not None
    if registered:
        if not same_source or not record_promotion_once(paths, destination, entry):
            raise StoreError(already)
        freed = free_unpromoted_checkpoints(paths, {checkpoint_path.name}) if move else 0
        return _finished(destination, entry, freed)
    check_same_request(
        destination,
        entry,
        paths,
        checkpoint_path,
        aliases,
        read_manifest(destination).get(model_name(checkpoint_path)),
        store,
    )
    problems = [p for p in verify_tree(destination) if not p.startswith("writable")]
    if problems:
        raise StoreError(
            f"{destination}: an interrupted promotion that does not verify ({problems[0]}); "
            "inspect it with `abyssexp verify`"
        )
    freed = _complete(paths, store, destination, entry, checkpoint_path, move)
    return _finished(destination, entry, freed)


def _finished(destination: Path, entry: Mapping[str, Any], freed: int) -> PromoteResult:
    files = len(read_manifest(destination)) + 1
    return PromoteResult(
        destination,
        str(entry.get("checkpoint")),
        files,
        int(entry.get("bytes") or 0),
        list(entry.get("aliases_at_promotion") or []),
        freed,
        finished_interrupted=True,
    )

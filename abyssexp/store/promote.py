"""``abyssexp promote``: copy a validated model from scratch to permanent storage, as a transaction.

The steps, each recoverable if the process dies after it:

1. plan: check requirements, checkpoint, aliases, that the registry parses and (``--move``) that
   ``models/`` is a real folder. Nothing changes before this passes.
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
import re
import signal
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from abyssexp.atomic import fsync_dir
from abyssexp.config import StoreURL, parse_store
from abyssexp.errors import ExperimentStateError, InvalidInputError, StoreError
from abyssexp.experiment.checkpoints import remove_unprotected_checkpoints, resolve_checkpoint
from abyssexp.experiment.layout import THRESHOLDS_FILE, ExperimentPaths
from abyssexp.experiment.naming import validate_part
from abyssexp.experiment.record import (
    promoted_checkpoints,
    read_record,
    record_promotion,
    utc_now,
)
from abyssexp.experiment.refs import split_location
from abyssexp.hashing import CHUNK, sha256_file
from abyssexp.owned import check_inside, check_path, make_dirs, own_root
from abyssexp.schemas.record import Promotion
from abyssexp.store.manifest import MANIFEST, read_manifest, seal_tree, verify_tree
from abyssexp.store.registry import (
    ENTRY_FILE,
    ENTRY_VERSION,
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

REQUIRE_RE = re.compile(
    r"^(?P<condition>[^:]+):(?P<metric>[^\s<>=]+)\s*(?P<op>>=|<=|>|<|==)\s*(?P<value>[-+0-9.eE]+)$"
)
Progress = Callable[[int, int], None]
EXPORT_DIR = "export"  # exports inside a promoted folder

#: Test hook for the fault-injection tests: ``ABYSSEXP_FAULT_AT=<step>`` SIGKILLs the promoting
#: process right after that step. Unset (always, outside those tests) it does nothing.
FAULT_ENV = "ABYSSEXP_FAULT_AT"
FAULT_STEPS = ("copied-one-file", "staged", "renamed", "sealed", "registered", "recorded")


def fault_point(step: str) -> None:
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Requirement:
    condition: str
    metric: str
    op: str
    value: float

    def holds(self, measured: float) -> bool:
        return {
            ">=": measured >= self.value,
            "<=": measured <= self.value,
            ">": measured > self.value,
            "<": measured < self.value,
            "==": measured == self.value,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.condition}:{self.metric}{self.op}{self.value:g}"


def parse_requirement(text: str) -> Requirement:
    """``CONDITION:METRIC>=VALUE``; the condition follows the experiment name-part rules (it is a
    folder under ``testing/``), and so does each dot-separated part of the metric path.

    Raises:
        InvalidInputError: the text has another shape, or a name is not a valid name part.
    """
    match = REQUIRE_RE.match(text.strip())
    if not match:
        raise InvalidInputError(
            f"--require {text!r}: expected CONDITION:METRIC>=VALUE, e.g. shapes-test:accuracy>=0.9"
        )
    try:
        validate_part(match["condition"], f"--require {text!r}: condition")
        for part in match["metric"].split("."):
            validate_part(part, f"--require {text!r}: metric")
        value = float(match["value"])
    except ValueError:
        raise InvalidInputError(
            f"--require {text!r}: {match['value']!r} is not a number, e.g. accuracy>=0.9"
        ) from None
    return Requirement(match["condition"], match["metric"], match["op"], value)


def _measured(paths: ExperimentPaths, requirement: Requirement) -> float:
    metrics_file = paths.condition(requirement.condition) / "metrics.json"
    if not metrics_file.is_file():
        tested = (
            sorted(p.name for p in paths.testing.iterdir() if p.is_dir())
            if paths.testing.is_dir()
            else []
        )
        raise StoreError(
            f"--require {requirement}: no testing condition {requirement.condition!r} "
            f"(tested: {', '.join(tested) or 'none'}); run `abyssexp test` first"
        )
    metrics = json.loads(metrics_file.read_text())
    value: Any = metrics
    for part in requirement.metric.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, int | float):
        raise StoreError(
            f"--require {requirement}: metric {requirement.metric!r} not in {metrics_file}"
        )
    return float(value)


@dataclass
class PromoteResult:
    destination: Path | StoreURL
    checkpoint: str
    files: int
    bytes: int
    aliases: list[str]
    freed_bytes: int
    finished_interrupted: bool = False
    #: ``{condition: [caveat, ...]}``: what to know about the test results (copied into the entry).
    caveats: dict[str, list[dict[str, Any]]] | None = None
    exports: dict[str, Any] = field(default_factory=dict)  # format -> parity (export.json)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "destination": str(self.destination)}


def plan_files(
    paths: ExperimentPaths, checkpoint: Path, exports: Path | None = None
) -> list[tuple[Path, str]]:
    """(source, relative destination) of everything a promotion carries."""
    plan = [(checkpoint, model_name(checkpoint))]
    for source, target in (
        (paths.params, "params.json"),
        (paths.model_definition, "model_definition.json"),
        (paths.category_map, "category_map.json"),
        (paths.class_names, "class_names.json"),
        (paths.provenance, "logs/provenance.json"),
        (paths.git_diff, "logs/git.diff"),
        (paths.history, "logs/history.csv"),
        (paths.readme, "readme.txt"),
    ):
        if source.is_file():
            plan.append((source, target))
    if checkpoint == paths.best_checkpoint and paths.thresholds.is_file():
        plan.append((paths.thresholds, THRESHOLDS_FILE))  # they were chosen for best.keras
    if paths.testing.is_dir():
        for dirpath, _dirs, names in os.walk(paths.testing):
            for name in sorted(names):
                source = Path(dirpath) / name
                plan.append((source, str(Path("testing") / source.relative_to(paths.testing))))
    if exports is not None:
        for dirpath, _dirs, names in os.walk(exports):
            for name in sorted(names):
                source = Path(dirpath) / name
                plan.append((source, str(Path(EXPORT_DIR) / source.relative_to(exports))))
    return plan


def model_name(checkpoint: Path) -> str:
    return f"model{checkpoint.suffix}"


def _copy_with_digest(source: Path, target: Path, progress: Callable[[int], None]) -> str:
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as reader, open(target, "wb") as writer:
        for block in iter(lambda: reader.read(CHUNK), b""):
            digest.update(block)
            writer.write(block)
            progress(len(block))
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest()


def _write_synced(target: Path, data: bytes) -> str:
    with open(target, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(data).hexdigest()


def clean_stale_temporaries(folder: Path) -> None:
    """Remove the temporaries of killed promotions of this host (``store.temporaries``)."""
    remove_stale(folder)


def _stage(
    temporary: Path, plan: list[tuple[Path, str]], entry: dict[str, Any], advance: Callable
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


def _register(store: Path, destination: Path, entry: dict[str, Any]) -> None:
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


def record_promotion_once(
    paths: ExperimentPaths, destination: Path | StoreURL, entry: dict
) -> bool:
    """Add the promotion to the experiment's record unless it is there; returns whether added."""
    if any(p.path == str(destination) for p in read_record(paths.record).promotions):
        return False
    record_promotion(
        paths.record,
        Promotion(
            path=str(destination),
            checkpoint=entry.get("checkpoint"),
            aliases=list(entry.get("aliases_at_promotion") or []),
            time=entry.get("promoted"),
        ),
    )
    return True


@dataclass
class PromotionRequest:
    """A promotion, checked and ready to carry out (the plan step's value)."""

    paths: ExperimentPaths
    checkpoint: Path
    aliases: list[str]
    tests: dict[str, Any]
    project: str
    experiment_type: str
    caveats: dict[str, list[dict[str, Any]]] | None = None


def check_request(
    paths: ExperimentPaths,
    checkpoint: str,
    requirements: list[Requirement],
    aliases: list[str],
    move: bool,
    force_untested: bool,
) -> PromotionRequest:
    """Everything a promotion checks before it changes anything, wherever the store is.

    Raises:
        StoreError: untested (without ``force_untested``) or a requirement not met.
        InvalidInputError: a bad alias.
    """
    for alias in aliases:
        validate_part(alias, "--alias")
    tested = read_record(paths.record).tests
    if not tested and not force_untested:
        raise StoreError(
            f"{paths.root}: no testing condition; run `abyssexp test {paths.root} --coco FILE "
            "--condition NAME` first, or pass --force-untested"
        )
    for requirement in requirements:
        measured = _measured(paths, requirement)
        if not requirement.holds(measured):
            raise StoreError(
                f"--require {requirement} not met: measured {requirement.metric} = {measured:.4f}"
            )
    checkpoint_path = resolve_checkpoint(paths, checkpoint)
    if move:  # refuse a symlinked models/ now, not after the promotion
        check_inside(paths.models / checkpoint_path.name, paths.root)
    project, experiment_type = split_location(paths)
    return PromotionRequest(
        paths,
        checkpoint_path,
        aliases,
        tested,
        project,
        experiment_type,
        test_caveats(paths, tested),
    )


def test_caveats(paths: ExperimentPaths, tested: dict[str, Any]) -> dict[str, list[dict]]:
    """The caveats of every test condition: the record's, else (a result tested before caveats
    were stored) worked out from the condition's metrics.json."""
    from abyssexp.experiment.caveats import result_caveats

    found: dict[str, list[dict]] = {}
    for condition, summary in tested.items():
        caveats = (summary or {}).get("caveats")
        if caveats is None:
            try:
                metrics = json.loads((paths.condition(condition) / "metrics.json").read_text())
            except (OSError, ValueError):
                metrics = None
            caveats = result_caveats(metrics) if isinstance(metrics, dict) else []
        if caveats:
            found[condition] = list(caveats)
    return found


def new_entry(request: PromotionRequest, total: int) -> dict[str, Any]:
    """The promoted model's ``entry.json``."""
    return {
        "entry_version": ENTRY_VERSION,
        "project": request.project,
        "type": request.experiment_type,
        "name": request.paths.name,
        "checkpoint": request.checkpoint.name,
        "scratch_path": str(request.paths.root),
        "promoted": utc_now(),
        "promoted_unix": time.time(),
        "host": socket.gethostname(),
        "tests": request.tests,
        "caveats": request.caveats or {},
        "bytes": total,
        "aliases_at_promotion": request.aliases,
    }


def progress_counter(total: int, progress: Progress | None) -> Callable[[int], None]:
    """``advance(count)``: adds ``count`` bytes and reports (bytes done, ``total``)."""
    done = [0]

    def advance(count: int) -> None:
        done[0] += count
        if progress:
            progress(done[0], total)

    return advance


def promote_experiment(
    paths: ExperimentPaths,
    store: Path | StoreURL,
    checkpoint: str = "best",
    requirements: list[Requirement] | None = None,
    aliases: list[str] | None = None,
    move: bool = False,
    force_untested: bool = False,
    progress: Progress | None = None,
    export_formats: list[str] | None = None,
) -> PromoteResult:
    """Promote an experiment's checkpoint to the store as a transaction (module docstring).

    Args:
        paths: the experiment.
        store: the store root: a folder, or an object store (``store.remote_promote``).
        checkpoint: ``best``, ``last`` or an epoch number.
        requirements: ``--require`` conditions that must hold.
        aliases: aliases to point at the promoted model.
        move: then free the scratch checkpoints that were not promoted.
        force_untested: promote without a testing condition.
        progress: called with (bytes copied, bytes in all).
        export_formats: also export (``savedmodel``, ``onnx``, ``litert``), checked for parity,
            into the promoted folder's ``export/``.

    Returns:
        Where it went and what it carried.

    Raises:
        StoreError: a requirement not met, a broken registry, a failed export, or a conflict.
        InvalidInputError: a bad alias or requirement.
    """
    request = check_request(
        paths, checkpoint, requirements or [], list(aliases or []), move, force_untested
    )
    if isinstance(store, StoreURL):
        from abyssexp.store.remote_promote import promote_to_object_store

        result = promote_to_object_store(request, store, move, progress, export_formats)
        return replace(result, caveats=request.caveats)
    checkpoint_path, aliases = request.checkpoint, request.aliases
    type_dir = own_root(store) / request.project / request.experiment_type
    destination = type_dir / paths.name
    check_path(destination, verb="promote into", final=True)
    registry = prepare_registry(store)  # a broken registry stops us before anything changes
    if os.path.lexists(destination):
        result = _finish_interrupted(
            paths, store, destination, checkpoint_path, aliases, registry, move
        )
        return replace(result, caveats=request.caveats)
    exports = None
    if export_formats:
        from abyssexp.store.export import export_experiment

        exports = export_experiment(paths, checkpoint_path, export_formats)
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
    result = PromoteResult(destination, checkpoint_path.name, len(plan) + 2, total, aliases, freed)
    if exports is not None:
        from abyssexp.store.export import export_parity

        result.exports = export_parity(exports)
    return replace(result, caveats=request.caveats)


def _complete(
    paths: ExperimentPaths,
    store: Path,
    destination: Path,
    entry: dict[str, Any],
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
    registry: dict[str, Any],
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


def check_same_request(
    destination: Path | StoreURL,
    entry: dict[str, Any],
    paths: ExperimentPaths,
    checkpoint_path: Path,
    aliases: list[str],
    promoted_digest: str | None,
    store: Path | StoreURL,
) -> None:
    """Raise unless the unregistered promotion at ``destination`` is this request's: the same
    experiment, checkpoint file (``promoted_digest``: its sha256 in the manifest) and aliases."""
    repair = f"run `abyssexp store repair --store {store}` to register it as it is"
    if entry.get("scratch_path") != str(paths.root) or entry.get("checkpoint") != (
        checkpoint_path.name
    ):
        raise StoreError(
            f"{destination}: holds an unregistered promotion of {entry.get('scratch_path')} "
            f"({entry.get('checkpoint')}), not of {checkpoint_path}; {repair}"
        )
    if sorted(entry.get("aliases_at_promotion") or []) != sorted(aliases):
        raise StoreError(
            f"{destination}: the interrupted promotion asked for aliases "
            f"{entry.get('aliases_at_promotion') or 'none'}, this one for {aliases or 'none'}; "
            f"rerun with the same --alias options to finish it, or {repair}"
        )
    if promoted_digest != sha256_file(checkpoint_path):
        raise StoreError(
            f"{destination}: the interrupted promotion holds another {checkpoint_path.name} "
            f"(retrained since?); {repair}"
        )


def _finished(destination: Path, entry: dict[str, Any], freed: int) -> PromoteResult:
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


def free_unpromoted_checkpoints(paths: ExperimentPaths, keep: set[str]) -> int:
    """Delete scratch checkpoints other than ``keep`` and promoted ones; returns bytes freed."""
    protected = set(keep) | promoted_checkpoints(read_record(paths.record))
    return remove_unprotected_checkpoints(paths, protected)


def verify_promoted(path: Path | str) -> list[str]:
    """Problems of a promoted folder, or of a promoted model's URL in an object store (empty:
    intact)."""
    target = parse_store(path, "verify") if isinstance(path, str) else path
    if isinstance(target, StoreURL):
        from abyssexp.store.remote_promote import verify_object_prefix

        return verify_object_prefix(target)
    return verify_tree(target)

"""``abyssexp promote``: copy a validated model from scratch to permanent storage, as a transaction.

Copy into a temporary folder inside the store (same file system), verify every checksum, fsync,
rename into place, make the files read-only. A SIGKILL at any moment leaves either no promotion
(a stray ``.tmp-*`` folder the next promotion removes) or a complete, verifiable one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abyssexp.atomic import fsync_dir
from abyssexp.errors import InvalidInputError, StoreError
from abyssexp.experiment.checkpoints import remove_unprotected_checkpoints, resolve_checkpoint
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record import (
    promoted_checkpoints,
    read_record,
    record_promotion,
    utc_now,
)
from abyssexp.experiment.refs import split_location
from abyssexp.hashing import CHUNK, sha256_file
from abyssexp.schemas.record import Promotion
from abyssexp.store.manifest import MANIFEST, verify_tree
from abyssexp.store.registry import update_registry

REQUIRE_RE = re.compile(
    r"^(?P<condition>[^:]+):(?P<metric>[\w.]+)\s*(?P<op>>=|<=|>|<|==)\s*(?P<value>[-+0-9.eE]+)$"
)
TMP_PREFIX = ".tmp-"
Progress = Callable[[int, int], None]


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
    match = REQUIRE_RE.match(text.strip())
    if not match:
        raise InvalidInputError(
            f"--require {text!r}: expected CONDITION:METRIC>=VALUE, e.g. shapes-test:accuracy>=0.9"
        )
    return Requirement(match["condition"], match["metric"], match["op"], float(match["value"]))


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
    destination: Path
    checkpoint: str
    files: int
    bytes: int
    aliases: list[str]
    freed_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "destination": str(self.destination)}


def _plan(paths: ExperimentPaths, checkpoint: Path) -> list[tuple[Path, str]]:
    """(source, relative destination) of everything a promotion carries."""
    plan = [(checkpoint, f"model{checkpoint.suffix}")]
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
    if paths.testing.is_dir():
        for dirpath, _dirs, names in os.walk(paths.testing):
            for name in sorted(names):
                source = Path(dirpath) / name
                plan.append((source, str(Path("testing") / source.relative_to(paths.testing))))
    return plan


def _copy_with_digest(source: Path, target: Path, progress: Callable[[int], None]) -> str:
    import hashlib

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


def clean_stale_temporaries(folder: Path) -> None:
    """Remove ``.tmp-*`` folders left by killed promotions (their process is gone)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if not entry.name.startswith(TMP_PREFIX):
            continue
        parts = entry.name.split("-")
        host, pid = (parts[-3], parts[-2]) if len(parts) >= 4 else ("", "0")
        alive = False
        if host == socket.gethostname() and pid.isdigit():
            try:
                os.kill(int(pid), 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if not alive:
            _make_writable(entry)
            shutil.rmtree(entry, ignore_errors=True)


def _make_writable(root: Path) -> None:
    for dirpath, _dirs, names in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in names:
            try:
                os.chmod(Path(dirpath) / name, 0o644)
            except OSError:
                pass


def promote_experiment(
    paths: ExperimentPaths,
    store: Path,
    checkpoint: str = "best",
    requirements: list[Requirement] | None = None,
    aliases: list[str] | None = None,
    move: bool = False,
    force_untested: bool = False,
    progress: Progress | None = None,
) -> PromoteResult:
    from abyssexp.experiment.naming import validate_part

    for alias in aliases or []:
        validate_part(alias, "--alias")
    record = read_record(paths.record)
    tested = record.tests
    if not tested and not force_untested:
        raise StoreError(
            f"{paths.root}: no testing condition; run `abyssexp test {paths.root} --coco FILE "
            "--condition NAME` first, or pass --force-untested"
        )
    for requirement in requirements or []:
        measured = _measured(paths, requirement)
        if not requirement.holds(measured):
            raise StoreError(
                f"--require {requirement} not met: measured {requirement.metric} = {measured:.4f}"
            )
    checkpoint_path = resolve_checkpoint(paths, checkpoint)
    project, experiment_type = split_location(paths)
    type_dir = store / project / experiment_type
    destination = type_dir / paths.name
    if destination.exists():
        raise StoreError(f"{destination}: already promoted; promotions are never overwritten")
    type_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(type_dir)

    plan = _plan(paths, checkpoint_path)
    total = sum(source.stat().st_size for source, _ in plan)
    done = [0]

    def advance(count: int) -> None:
        done[0] += count
        if progress:
            progress(done[0], total)

    temporary = (
        type_dir
        / f"{TMP_PREFIX}{paths.name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    temporary.mkdir()
    try:
        digests = {}
        for source, relative in plan:
            digests[relative] = _copy_with_digest(source, temporary / relative, advance)
        for relative, digest in digests.items():
            if sha256_file(temporary / relative) != digest:
                raise StoreError(
                    f"{temporary / relative}: checksum differs after copying; disk problem?"
                )
        manifest_text = "".join(f"{digests[r]}  {r}\n" for r in sorted(digests))
        with open(temporary / MANIFEST, "w") as handle:
            handle.write(manifest_text)
            handle.flush()
            os.fsync(handle.fileno())
        for dirpath, _dirs, _names in os.walk(temporary, topdown=False):
            fsync_dir(Path(dirpath))
        for dirpath, _dirs, names in os.walk(temporary):
            for name in names:
                os.chmod(Path(dirpath) / name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        if destination.exists():
            raise StoreError(f"{destination}: already promoted; promotions are never overwritten")
        try:
            os.rename(temporary, destination)
        except OSError as exc:
            raise StoreError(f"{destination}: already promoted ({exc.strerror})") from None
        fsync_dir(type_dir)
    except BaseException:
        _make_writable(temporary)
        shutil.rmtree(temporary, ignore_errors=True)
        raise

    entry = {
        "project": project,
        "type": experiment_type,
        "name": paths.name,
        "path": str(destination),
        "scratch_path": str(paths.root),
        "checkpoint": checkpoint_path.name,
        "promoted": utc_now(),
        "tests": tested,
        "bytes": total,
    }
    key = f"{project}/{experiment_type}"

    def register(data: dict[str, Any]) -> None:
        data["models"] = [m for m in data["models"] if m.get("path") != str(destination)] + [entry]
        for alias in aliases or []:
            data["aliases"].setdefault(key, {})[alias] = paths.name

    update_registry(store, register)
    record_promotion(
        paths.record,
        Promotion(
            path=str(destination),
            checkpoint=checkpoint_path.name,
            aliases=list(aliases or []),
            time=entry["promoted"],
        ),
    )
    freed = free_unpromoted_checkpoints(paths, keep={checkpoint_path.name}) if move else 0
    return PromoteResult(
        destination, checkpoint_path.name, len(plan) + 1, total, list(aliases or []), freed
    )


def free_unpromoted_checkpoints(paths: ExperimentPaths, keep: set[str]) -> int:
    """Delete scratch checkpoints other than ``keep`` and promoted ones; returns bytes freed."""
    protected = set(keep) | promoted_checkpoints(read_record(paths.record))
    return remove_unprotected_checkpoints(paths, protected)


def verify_promoted(path: Path) -> list[str]:
    return verify_tree(path)

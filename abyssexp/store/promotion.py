"""What every backend's promotion shares: the request and its checks, the result, the entry,
the files carried, fault points, "same request" detection and recording the promotion once.

``check_request`` is the plan step (nothing changes before it passes); a backend's ``promote``
(``store.promote`` for a folder, ``store.remote_promote`` for an object store) carries the
request out as a transaction and uses the rest of this module on the way.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.config import StoreURL
from abyssexp.errors import InvalidInputError, StoreError
from abyssexp.experiment.checkpoints import remove_unprotected_checkpoints, resolve_checkpoint
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.naming import validate_part
from abyssexp.experiment.promoted import EXPORT_MANIFEST, PromotedPaths, model_file_name
from abyssexp.experiment.record_file import (
    promoted_checkpoints,
    read_record,
    record_promotion,
    utc_now,
)
from abyssexp.experiment.refs import split_location
from abyssexp.hashing import sha256_file
from abyssexp.owned import check_inside
from abyssexp.schemas.record import Promotion
from abyssexp.store.registry import ENTRY_VERSION

REQUIRE_RE = re.compile(
    r"^(?P<condition>[^:]+):(?P<metric>[^\s<>=]+)\s*(?P<op>>=|<=|>|<|==)\s*(?P<value>[-+0-9.eE]+)$"
)
Progress = Callable[[int, int], None]

#: Test hook for the fault-injection tests: ``ABYSSEXP_FAULT_AT=<step>`` SIGKILLs the promoting
#: process right after that step. Unset (always, outside those tests) it does nothing.
FAULT_ENV = "ABYSSEXP_FAULT_AT"
#: Where it can kill a promotion to a folder store (``store.remote_promote`` has its own list).
FAULT_STEPS = ("copied-one-file", "staged", "renamed", "sealed", "registered", "recorded")


def fault_point(step: str) -> None:
    """SIGKILL this process when ``ABYSSEXP_FAULT_AT`` names ``step`` (tests only)."""
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
    promoted = PromotedPaths(Path())  # names relative to the promoted folder
    plan = [(checkpoint, model_name(checkpoint))]
    for source, target in (
        (paths.params, promoted.params),
        (paths.model_definition, promoted.model_definition),
        (paths.category_map, promoted.category_map),
        (paths.class_names, promoted.class_names),
        (paths.provenance, promoted.logs / paths.provenance.name),
        (paths.git_diff, promoted.logs / paths.git_diff.name),
        (paths.history, promoted.logs / paths.history.name),
        (paths.readme, promoted.readme),
    ):
        if source.is_file():
            plan.append((source, str(target)))
    if checkpoint == paths.best_checkpoint and paths.thresholds.is_file():
        plan.append((paths.thresholds, str(promoted.thresholds)))  # chosen for best.keras
    for folder, target in ((paths.testing, promoted.testing), (exports, promoted.exports)):
        if folder is not None and folder.is_dir():
            for dirpath, _dirs, names in os.walk(folder):
                for name in sorted(names):
                    source = Path(dirpath) / name
                    plan.append((source, str(target / source.relative_to(folder))))
    return plan


def model_name(checkpoint: Path) -> str:
    """The promoted name of ``checkpoint`` (``model.keras``: ``experiment.promoted``)."""
    return model_file_name(checkpoint)


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


def free_unpromoted_checkpoints(paths: ExperimentPaths, keep: set[str]) -> int:
    """Delete scratch checkpoints other than ``keep`` and promoted ones; returns bytes freed."""
    protected = set(keep) | promoted_checkpoints(read_record(paths.record))
    return remove_unprotected_checkpoints(paths, protected)


def export_parity(folder: Path | None) -> dict[str, Any]:
    """Each format's parity as measured when ``folder`` was exported (its ``export.json``):
    ``{format: {max_abs_difference, top1_agreement, bytes, ...}}``; empty when none."""
    if folder is None:
        return {}
    try:
        return dict(json.loads((folder / EXPORT_MANIFEST).read_text()).get("formats", {}))
    except (OSError, ValueError, AttributeError):
        return {}

"""What every backend's promotion shares: the request and its checks, the result, the entry,
the files carried, fault points, "same request" detection and recording the promotion once.

``check_request`` is the plan step (nothing changes before it passes); a backend's ``promote``
(``store.folder_promote`` for a folder, ``store.remote_promote`` for an object store) carries the
request out as a transaction and uses the rest of this module on the way.
"""

from __future__ import annotations

import math
import os
import re
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.config import StoreURL
from abyssexp.errors import InvalidInputError, StoreError
from abyssexp.experiment.caveats import check_accepted
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
from abyssexp.metric_direction import in_unit_interval
from abyssexp.owned import check_inside
from abyssexp.processes import this_host
from abyssexp.schemas.export_manifest import FormatParity, load_export_manifest
from abyssexp.schemas.record import Promotion
from abyssexp.schemas.results import (
    METRICS_FILE,
    Caveat,
    load_test_metrics,
    read_test_metrics,
)
from abyssexp.schemas.store_entry import ENTRY_VERSION, StoreEntry

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


#: What a requirement compares: the point value, or an end of its 95 % interval.
BOUNDS = ("value", "low", "high")


@dataclass
class Requirement:
    condition: str
    metric: str
    op: str
    value: float
    #: ``value`` (the point value), ``low`` or ``high`` (an end of the metric's 95 % interval).
    bound: str = "value"

    def holds(self, measured: float) -> bool:
        return {
            ">=": measured >= self.value,
            "<=": measured <= self.value,
            ">": measured > self.value,
            "<": measured < self.value,
            "==": measured == self.value,
        }[self.op]

    @property
    def measured_name(self) -> str:
        """``accuracy``, or ``accuracy.low`` for an end of its interval."""
        return self.metric if self.bound == "value" else f"{self.metric}.{self.bound}"

    def __str__(self) -> str:
        return f"{self.condition}:{self.measured_name}{self.op}{self.value:g}"


def parse_requirement(text: str, require_on: str = "value") -> Requirement:
    """``CONDITION:METRIC>=VALUE``, or ``CONDITION:METRIC.low>=VALUE`` to gate on the low end of
    the metric's 95 % interval (``.high``, ``.value`` likewise); ``require_on`` is the bound of a
    metric written without one (``--require-on``). The condition follows the experiment
    name-part rules (it is a folder under ``testing/``), and so does each dot-separated part of
    the metric path.

    Raises:
        InvalidInputError: the text has another shape, a name is not a valid name part, or the
            value is not a finite number.
    """
    if require_on not in BOUNDS:
        raise InvalidInputError(f"--require-on {require_on!r}: expected one of {', '.join(BOUNDS)}")
    match = REQUIRE_RE.match(text.strip())
    if not match:
        raise InvalidInputError(
            f"--require {text!r}: expected CONDITION:METRIC>=VALUE, e.g. "
            "shapes-test:accuracy.low>=0.9"
        )
    metric, bound = match["metric"], require_on
    head, _, last = metric.rpartition(".")
    if head and last in BOUNDS:
        metric, bound = head, last
    try:
        validate_part(match["condition"], f"--require {text!r}: condition")
        for part in metric.split("."):
            validate_part(part, f"--require {text!r}: metric")
        value = float(match["value"])
    except ValueError:
        raise InvalidInputError(
            f"--require {text!r}: {match['value']!r} is not a number, e.g. accuracy>=0.9"
        ) from None
    if not math.isfinite(value):
        raise InvalidInputError(f"--require {text!r}: {value} is not a finite number")
    return Requirement(match["condition"], metric, match["op"], value, bound)


def _read_metrics(paths: ExperimentPaths, requirement: Requirement) -> tuple[Path, dict[str, Any]]:
    metrics_file = paths.condition(requirement.condition) / METRICS_FILE
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
    return metrics_file, dict(read_test_metrics(metrics_file, StoreError))


def _measured(paths: ExperimentPaths, requirement: Requirement) -> float:
    """The number ``requirement`` compares, checked: finite, and in [0, 1] for a unit metric.

    Raises:
        StoreError: no such condition or metric, a damaged value, or (on an interval bound) a
            result whose interval is too few to tell or that was tested before intervals.
    """
    metrics_file, metrics = _read_metrics(paths, requirement)
    value: Any = metrics
    for part in requirement.metric.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise StoreError(
            f"--require {requirement}: metric {requirement.metric!r} not in {metrics_file}"
        )
    if requirement.bound != "value":
        value = _interval_bound(metrics, requirement, metrics_file)
    return _checked_number(float(value), requirement, metrics_file)


def _interval_bound(metrics: dict[str, Any], requirement: Requirement, metrics_file: Path) -> float:
    interval = (metrics.get("intervals") or {}).get(requirement.metric)
    if not isinstance(interval, dict):
        raise StoreError(
            f"--require {requirement}: {metrics_file} has no interval for "
            f"{requirement.metric!r} (tested before intervals, or not an interval metric); "
            "run `abyssexp test` again, or gate on the value with --require-on value"
        )
    bound = interval.get(requirement.bound)
    if not isinstance(bound, int | float) or isinstance(bound, bool):
        reason = interval.get("reason") or "no interval"
        raise StoreError(
            f"--require {requirement} not met: {requirement.metric} has no trustworthy "
            f"interval ({reason}): too few to tell; test on more images"
        )
    return float(bound)


def _checked_number(value: float, requirement: Requirement, metrics_file: Path) -> float:
    unit = in_unit_interval(requirement.metric.rsplit(".", 1)[-1])
    if not math.isfinite(value) or (unit and not 0.0 <= value <= 1.0):
        raise StoreError(
            f"{metrics_file}: {requirement.metric} = {value!r} is not a "
            f"{'number in [0, 1]' if unit else 'finite number'}: the file is damaged; run "
            "`abyssexp test` again"
        )
    return value


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
    caveats: dict[str, list[Caveat]] | None = None
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
    paths: ExperimentPaths, destination: Path | StoreURL, entry: Mapping[str, Any]
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
    caveats: dict[str, list[Caveat]] | None = None
    #: Blocking caveat codes this promotion accepted (``--accept``), recorded in the entry.
    accepted: list[str] = field(default_factory=list)


def check_request(
    paths: ExperimentPaths,
    checkpoint: str,
    requirements: list[Requirement],
    aliases: list[str],
    move: bool,
    force_untested: bool,
    accepted: frozenset[str] = frozenset(),
) -> PromotionRequest:
    """Everything a promotion checks before it changes anything, wherever the store is.

    Raises:
        StoreError: untested (without ``force_untested``) or a requirement not met.
        BlockingCaveatsError: a blocking caveat (constant predictions, a small test set,
            overlap, a data override) that ``accepted`` does not name.
        InvalidInputError: a bad alias.
    """
    for alias in aliases:
        validate_part(alias, "--alias")
    record = read_record(paths.record)
    tested = record.tests
    if not tested and not force_untested:
        raise StoreError(
            f"{paths.root}: no testing condition; run `abyssexp test {paths.root} --coco FILE "
            "--condition NAME` first, or pass --force-untested"
        )
    for requirement in requirements:
        measured = _measured(paths, requirement)
        if not requirement.holds(measured):
            raise StoreError(
                f"--require {requirement} not met: measured {requirement.measured_name} = "
                f"{measured:.4f}"
            )
    caveats = test_caveats(paths, tested, record.data_overrides)
    accepted_codes = check_accepted(str(paths.root), caveats, accepted, "promote")
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
        caveats,
        accepted_codes,
    )


def test_caveats(
    paths: ExperimentPaths, tested: dict[str, Any], overrides: list[Any] | None = None
) -> dict[str, list[Caveat]]:
    """The caveats of every test condition: the record's, else (a result tested before caveats
    were stored) worked out from the condition's metrics.json; each with the experiment's data
    overrides (``new --force-data``) when the result does not already say them."""
    from abyssexp.experiment.caveats import result_caveats, with_override_caveats

    found: dict[str, list[Caveat]] = {}
    for condition, summary in tested.items():
        caveats = (summary or {}).get("caveats")
        if caveats is None:
            metrics = load_test_metrics(paths.condition(condition) / METRICS_FILE)
            caveats = result_caveats(dict(metrics)) if metrics is not None else []
        caveats = with_override_caveats(list(caveats), overrides or [])
        if caveats:
            found[condition] = list(caveats)
    return found


def new_entry(request: PromotionRequest, total: int) -> StoreEntry:
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
        "host": this_host(),
        "tests": request.tests,
        "caveats": request.caveats or {},
        "accepted_caveats": request.accepted,
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
    entry: Mapping[str, Any],
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


def export_parity(folder: Path | None) -> dict[str, FormatParity]:
    """Each format's parity as measured when ``folder`` was exported (its ``export.json``):
    ``{format: {max_abs_difference, top1_agreement, bytes, ...}}``; empty when none."""
    if folder is None:
        return {}
    manifest = load_export_manifest(folder / EXPORT_MANIFEST)
    return dict(manifest.get("formats", {})) if manifest else {}

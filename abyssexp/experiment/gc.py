"""``abyssexp gc``: remove scratch checkpoints outside the retention policy (never best or
promoted), beside ``checkpoints.py``, which names, lists and prunes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.checkpoints import epoch_checkpoints, prune_epoch_checkpoints
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record_file import (
    Status,
    effective_status,
    promoted_checkpoints,
    read_record,
)
from abyssexp.owned import OutsideOwnedFolderError, check_tree


@dataclass
class KeepPolicy:
    """What ``gc`` keeps besides ``best.keras`` and promoted checkpoints (always kept)."""

    last: bool = True
    newest: int = 0


def parse_keep(text: str) -> KeepPolicy:
    """``best,last,3``; ``best`` is accepted and always holds (best is never removed)."""
    policy = KeepPolicy(last=False, newest=0)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "best":
            pass
        elif part == "last":
            policy.last = True
        elif part.isdigit():
            policy.newest = int(part)
        else:
            raise InvalidInputError(
                f"--keep {text!r}: use best, last and/or a number, e.g. best,last,3"
            )
    return policy


@dataclass
class GcReport:
    path: Path
    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "removed": self.removed,
            "freed_bytes": self.freed_bytes,
            "kept": self.kept,
        }


def collect_garbage(paths: ExperimentPaths, policy: KeepPolicy, dry_run: bool = False) -> GcReport:
    check_tree(paths.root, verb="delete")  # the link rule: a linked experiment is refused
    report = GcReport(paths.root)
    record = read_record(paths.record)
    # The derived status: a run whose process is gone (or whose heartbeat stopped) is crashed,
    # and its checkpoints are collectable; a live run's are not touched.
    if effective_status(record) == Status.RUNNING.value:
        report.kept.append("(running: skipped)")
        return report
    promoted = promoted_checkpoints(record)
    epochs = [epoch for epoch, _ in epoch_checkpoints(paths.models)]
    keep_epochs = set(sorted(set(epochs))[-policy.newest :]) if policy.newest else set()
    if policy.last and epochs:
        keep_epochs.add(max(epochs))
    report.removed, report.kept, report.freed_bytes = prune_epoch_checkpoints(
        paths, keep_epochs, protected=promoted, dry_run=dry_run
    )
    if paths.best_checkpoint.is_file():
        report.kept.append(paths.best_checkpoint.name)  # best is never removed
    return report


def collect_all_garbage(
    scratch: Path, policy: KeepPolicy, dry_run: bool = False
) -> tuple[list[GcReport], list[str]]:
    """``collect_garbage`` on every experiment under ``scratch``; one reached through, or
    holding, a folder link is skipped with a warning line, never the end of the whole run.

    Returns:
        The reports of the experiments collected, and one warning per experiment skipped.
    """
    from abyssexp.experiment.list_rows import iter_experiment_dirs

    reports, skipped = [], []
    for _, _, folder in iter_experiment_dirs(scratch):
        try:
            reports.append(collect_garbage(ExperimentPaths(folder), policy, dry_run))
        except OutsideOwnedFolderError as exc:
            skipped.append(f"skipped: {exc}")
    return reports, skipped

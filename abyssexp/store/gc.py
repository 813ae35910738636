"""``abyssexp gc``: remove checkpoints outside the retention policy (never best or promoted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.checkpoints import epoch_checkpoints, prune_epoch_checkpoints
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record import Status, promoted_checkpoints, read_record
from abyssexp.owned import check_tree


@dataclass
class KeepPolicy:
    best: bool = True
    last: bool = True
    newest: int = 0


def parse_keep(text: str) -> KeepPolicy:
    policy = KeepPolicy(best=False, last=False, newest=0)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "best":
            policy.best = True
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
    if record.status == Status.RUNNING:
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

"""``abyssexp gc``: remove checkpoints outside the retention policy (never best or promoted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record import read_record


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
    report = GcReport(paths.root)
    record = read_record(paths.record)
    if record.get("status") == "running":
        report.kept.append("(running: skipped)")
        return report
    promoted = {p.get("checkpoint") for p in record.get("promotions") or []}
    checkpoints = []
    for path in paths.models.glob("model_*.*"):
        stem = path.stem.removeprefix("model_")
        if stem.isdigit() and path.suffix in (".keras", ".h5"):
            checkpoints.append((int(stem), path))
    checkpoints.sort()
    epochs = sorted({e for e, _ in checkpoints})
    keep_epochs = set(epochs[-policy.newest :]) if policy.newest else set()
    if policy.last and epochs:
        keep_epochs.add(epochs[-1])
    for epoch, path in checkpoints:
        if epoch in keep_epochs or path.name in promoted:
            report.kept.append(path.name)
            continue
        report.removed.append(path.name)
        report.freed_bytes += path.stat().st_size
        if not dry_run:
            path.unlink()
    if paths.best_checkpoint.is_file():
        report.kept.append(paths.best_checkpoint.name)  # best is never removed
    return report

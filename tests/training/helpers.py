"""Small helpers for training tests: a tiny experiment on the session's shapes dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from abyssexp.cli import app

TINY = [
    "--set",
    "model.backbone=tinycnn",
    "--set",
    "model.init_weights=none",
    "--set",
    "model.input_shape=[32,32,3]",
    "--set",
    "training.batch_size=16",
    "--set",
    "training.lr=0.002",
    "--set",
    "dataset.map_by=supercategory",
]


def new_tiny(runner, shapes: dict[str, Path], *extra: str, name: str = "tiny") -> Path:
    result = runner.invoke(
        app,
        [
            "new",
            "proj",
            "train",
            name,
            "--train",
            str(shapes["train"]),
            "--val",
            str(shapes["val"]),
            *TINY,
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def history(root: Path) -> list[dict[str, str]]:
    import csv

    with open(root / "logs" / "history.csv") as handle:
        return list(csv.DictReader(handle))


def record(root: Path) -> dict:
    return json.loads((root / "record.json").read_text())


def start_training(root: Path, scratch: Path) -> subprocess.Popen:
    """``abyssexp train ROOT --quiet`` in its own process, as users run it (stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "abyssexp", "train", str(root), "--quiet"],
        env={**os.environ, "ABYSSEXP_SCRATCH": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

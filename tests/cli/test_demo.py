"""`abyssexp demo`: the whole lifecycle on the embedded dataset reaches the promised accuracy."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "ABYSSEXP_CONFIG": str(tmp_path / "none")}
    result = subprocess.run(
        [sys.executable, "-m", "abyssexp", "demo", "--scratch", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    experiment = next((tmp_path / "demo" / "scratch" / "shapes" / "classification").glob("001.*"))
    metrics = json.loads((experiment / "testing" / "shapes-test" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9, metrics["accuracy"]
    assert metrics["class_names"] == ["boxy", "pointy", "round"]
    for step in (
        "$ abyssexp new",
        "$ abyssexp train",
        "$ abyssexp test",
        "$ abyssexp promote",
        "$ abyssexp list",
    ):
        assert step in result.stdout
    assert "demo finished" in result.stdout and f"{metrics['accuracy']:.3f}" in result.stdout
    promoted = tmp_path / "demo" / "store" / "shapes" / "classification" / experiment.name
    from abyssexp.store.manifest import verify_tree

    assert verify_tree(promoted) == []
    record = json.loads((experiment / "record.json").read_text())
    assert record["status"] == "completed" and record["promotions"][0]["aliases"] == ["candidate"]
    assert (experiment / "datasets" / "make-datasets.sh").is_file()

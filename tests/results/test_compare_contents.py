"""``compare`` says "not comparable" in its table when a test image's content changed between
two tests of the same COCO file (issue 31 case 16)."""

from __future__ import annotations

from pathlib import Path

from abyssexp.cli import app
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record_file import record_test

SAME_FILE = "a" * 64


def _tested(runner, shapes, name: str, fingerprint: str) -> Path:
    made = runner.invoke(app, ["new", "p", "t", name, "--train", str(shapes["train"])])
    assert made.exit_code == 0, made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    summary = {
        "accuracy": 0.5,
        "images": 24,
        "dataset_sha256": SAME_FILE,
        "images_sha256": fingerprint,
        "activation": "softmax",
        "caveats": [],
    }
    record_test(ExperimentPaths(root).record, "bench", summary)
    return root


def test_changed_image_content_is_not_comparable(runner, scratch: Path, shapes) -> None:
    _tested(runner, shapes, "a", "1" * 64)
    _tested(runner, shapes, "b", "2" * 64)
    result = runner.invoke(app, ["compare", "p/t/1", "p/t/2"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "bench:comparable" in line)
    assert row.count("not comparable") == 2, result.output
    assert "different image contents (2 different fingerprints)" in result.output


def test_same_content_stays_comparable(runner, scratch: Path, shapes) -> None:
    _tested(runner, shapes, "a", "1" * 64)
    _tested(runner, shapes, "b", "1" * 64)
    result = runner.invoke(app, ["compare", "p/t/1", "p/t/2"])
    assert result.exit_code == 0, result.output
    assert "not comparable" not in result.output


def test_fingerprint_changes_with_any_image() -> None:
    from abyssexp.evaluation.evaluate import _content_fingerprint

    first = _content_fingerprint([1, 2], ["x" * 64, "y" * 64])
    assert first == _content_fingerprint([1, 2], ["x" * 64, "y" * 64])
    assert first != _content_fingerprint([1, 2], ["x" * 64, "z" * 64])

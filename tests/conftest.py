"""Shared fixtures: a scratch root per test, small real JPEG datasets, a CLI runner."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from abyssexp.tf_runtime import configure_tensorflow_environment

configure_tensorflow_environment()  # what the CLI runs with
os.environ.setdefault("COLUMNS", "200")
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "abyss-original"
#: Fixtures that train models (once per test process): a test using one, directly or through
#: another fixture, is marked ``slow`` so that ``make test-fast`` never trains.
TRAINING_FIXTURES = frozenset({"trained_pair", "promoted_pair"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run a test that trains through a shared fixture without the ``slow`` mark."""
    unmarked = [
        item.nodeid
        for item in items
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests train (fixtures "
            + ", ".join(sorted(TRAINING_FIXTURES))
            + ") but are not marked slow; add @pytest.mark.slow: "
            + ", ".join(unmarked)
        )


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "scratch"
    monkeypatch.setenv("ABYSSEXP_SCRATCH", str(root))
    monkeypatch.setenv("ABYSSEXP_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("ABYSSEXP_CONFIG", str(tmp_path / "no-config.toml"))
    return root


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small embedded shapes dataset (real JPEGs, 32×32)."""
    from abyssexp.datasets.synthetic import write_shapes_dataset

    out = tmp_path_factory.mktemp("shapes")
    return write_shapes_dataset(out, {"train": 48, "val": 24, "test": 24}, size=32, seed=1)


@pytest.fixture
def runner() -> Any:
    from typer.testing import CliRunner

    return CliRunner()


def make_coco(
    folder: Path,
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    categories: list[dict[str, Any]] | None = None,
    name: str = "coco.json",
) -> Path:
    """Write a COCO json (images may carry a ``pixels`` array, written as a JPEG/PNG file)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    clean = []
    for image in images:
        image = dict(image)
        pixels = image.pop("pixels", None)
        if pixels is not None:
            Image.fromarray(pixels).save(folder / image["file_name"])
        clean.append(image)
    data: dict[str, Any] = {"images": clean, "annotations": annotations}
    if categories is not None:
        data["categories"] = categories
    path = folder / name
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def coco_factory() -> Any:
    return make_coco


def write_bomb_jpeg(path: Path, width: int = 65000, height: int = 65000) -> Path:
    """A ~630-byte JPEG whose header declares ``width``×``height`` (a decompression bomb)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 40, 10)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc0")  # baseline frame header: marker, length, precision, height, width
    data[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    data[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="session")
def trained_pair(shapes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two tiny experiments trained for 2 epochs and tested (condition ``shapes-test``): the
    first tagged ``baseline`` with lr 0.002, the second made ``--from`` it with lr 0.001. Built
    once per test process (a minute on two cores) and shared by the compare, report and
    TensorBoard tests; treat it as read-only."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from abyssexp.cli import app
    from tests.training.helpers import new_tiny

    base = tmp_path_factory.mktemp("trained")
    scratch = base / "scratch"
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(scratch))
        patch.setenv("ABYSSEXP_CONFIG", str(base / "no-config.toml"))
        name = "shapes-with-a-rather-long-dataset-name"
        first = new_tiny(
            runner, shapes, "--set", "training.epochs=2", "--note", "Baseline", name=name
        )
        second = new_tiny(
            runner,
            shapes,
            *("--from", str(first), "--set", "training.lr=0.001", "--note", "Lower lr"),
            name=name,
        )
        outputs = {}
        for root in (first, second):
            for args in (
                ["train", str(root)],
                ["test", str(root), "--coco", str(shapes["test"]), "--condition", "shapes-test"],
            ):
                # At 80 columns, as in a narrow terminal: the width tests read these outputs.
                result = runner.invoke(app, args, env={"COLUMNS": "80"})
                assert result.exit_code == 0, result.output
                outputs[(args[0], root)] = result
        assert runner.invoke(app, ["tag", str(first), "baseline"]).exit_code == 0
    return SimpleNamespace(scratch=scratch, first=first, second=second, outputs=outputs)

"""Shared fixtures: a scratch root per test, small real JPEG datasets, a CLI runner."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from abyssexp.tf_runtime import configure_tensorflow_environment

configure_tensorflow_environment()  # what the CLI runs with
os.environ.setdefault("COLUMNS", "200")
# No fsync or sync in the suite (abyssexp.atomic.TEST_FSYNC; Git's tests do the same): a sync
# beside two trainings waits for their checkpoints. Every test's processes inherit it; set it
# to 1 to run the suite with the flushes users get.
os.environ.setdefault("ABYSSEXP_TEST_FSYNC", "0")


def _command_built_once() -> None:
    """Typer's ``CliRunner.invoke`` builds the Click command tree of the app again on every call
    (0.2 s for abyssexp's 44 commands: their annotations evaluated anew), ten times what most
    commands take to run. A process of ours builds it once; so does a test process now: the
    tree is built once per app and reused, as Click's own runner reuses a command. (Typer's
    testing module looks the builder up by the name it imports it under.)"""
    import typer.main
    import typer.testing

    built: dict[int, tuple[Any, Any]] = {}

    def command_of(app: Any) -> Any:
        key = id(app)
        if key not in built or built[key][0] is not app:
            built[key] = (app, typer.main.get_command(app))
        return built[key][1]

    typer.testing._get_command = command_of  # type: ignore[attr-defined]


_command_built_once()
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "abyss-original"
#: Fixtures that train models (once per run): a test using one, directly or through
#: another fixture, is marked ``slow`` so that ``make test-fast`` never trains.
TRAINING_FIXTURES = frozenset({"trained_pair", "promoted_pair"})


#: The test files that take longest (seconds in one `make test` on 2 cores), collected first:
#: pytest-xdist hands out whole files in collection order (``--dist loadfile
#: --no-loadscope-reorder``), and a long file handed out last runs alone while the other worker
#: has nothing left to do (the demo did: 3 of 15 minutes).
LONGEST_FIRST = (
    "tests/cli/test_demo.py",  # 195
    "tests/training/test_resume_recipes.py",  # 168
    "tests/test_link_harness.py",  # 107
    "tests/cli/test_quiet.py",  # 78
    "tests/sweeps/test_optuna.py",  # 75
    "tests/training/test_recipes.py",  # 63
    "tests/augmentation/test_recipes.py",  # 60
    "tests/store/test_object_store.py",  # 50
    "tests/serving/test_serve.py",  # 46
    "tests/training/test_train.py",  # 41
    "tests/cli/test_experiments_cli.py",  # 38
    "tests/cli/test_output_docs.py",  # 36
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run a test that trains through a shared fixture without the ``slow`` mark;
    put the longest files first (``LONGEST_FIRST``)."""
    missing = [path for path in LONGEST_FIRST if not (config.rootpath / path).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names no file: {missing}")
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
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


@contextmanager
def built_once(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A folder shared by every test process of the run (pytest-xdist's workers included),
    held under a lock while the caller fills it: the first process builds, the others wait and
    find it built (its ``done.json``). The folder is the caller's to fill and to read back."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    folder = base / f"shared-{name}"
    folder.mkdir(exist_ok=True)
    with open(base / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield folder


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small embedded shapes dataset (real JPEGs, 32×32), written once per run."""
    from abyssexp.datasets.synthetic import write_shapes_dataset

    with built_once(tmp_path_factory, "shapes") as out:
        done = out / "done.json"
        if done.exists():
            return {split: Path(path) for split, path in json.loads(done.read_text()).items()}
        files = write_shapes_dataset(out, {"train": 48, "val": 24, "test": 24}, size=32, seed=1)
        done.write_text(json.dumps({split: str(path) for split, path in files.items()}))
        return files


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
    once per run (a minute on two cores; the test processes of ``-n 2`` share it) and shared
    by the compare, report, TensorBoard, width and serving tests; treat it as read-only."""
    from types import SimpleNamespace

    with built_once(tmp_path_factory, "trained") as base:
        done = base / "done.json"
        if not done.exists():
            _train_pair(base, shapes, done)
        built = json.loads(done.read_text())
    first, second = Path(built["first"]), Path(built["second"])
    outputs = {
        (command, root): SimpleNamespace(**built["outputs"][f"{command} {index}"])
        for command in ("train", "test")
        for index, root in enumerate((first, second))
    }
    return SimpleNamespace(scratch=base / "scratch", first=first, second=second, outputs=outputs)


def _train_pair(base: Path, shapes: dict[str, Path], done: Path) -> None:
    """Train and test ``trained_pair``'s experiments under ``base``; ``done`` records their
    folders and what ``train``/``test`` printed (stdout, stderr, output) for the width tests."""
    from typer.testing import CliRunner

    from abyssexp.cli import app
    from tests.training.helpers import new_tiny

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
        for index, root in enumerate((first, second)):
            for args in (
                ["train", str(root)],
                ["test", str(root), "--coco", str(shapes["test"]), "--condition", "shapes-test"],
            ):
                # At 80 columns, as in a narrow terminal: the width tests read these outputs.
                result = runner.invoke(app, args, env={"COLUMNS": "80"})
                assert result.exit_code == 0, result.output
                outputs[f"{args[0]} {index}"] = {
                    "stdout": result.stdout,
                    "stderr": result.stderr,
                    "output": result.output,
                }
        assert runner.invoke(app, ["tag", str(first), "baseline"]).exit_code == 0
    done.write_text(json.dumps({"first": str(first), "second": str(second), "outputs": outputs}))

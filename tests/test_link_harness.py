"""The link rule, checked as a harness (docs/concepts.md "What abyssexp guarantees").

One tiny experiment is trained, tested, promoted, swept and archived once per module; every case
copies that scratch and store, plants one symlink (a folder of the scratch or store tree, or a
lock file) pointing at a folder *outside* both roots that holds the real contents plus sentinel
files, runs one writing or deleting command, and asserts that the outside folder is
byte-identical afterwards, that every other tree (the scratch with its base experiment, other
experiments, the archive and the cache; the store) changed only where the command works
(``ALLOWED``), and that a refusal is one line. The summary (commands x link positions) is
written to ``link-harness-summary.txt`` in the module's temporary folder and printed
(``pytest -s``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from abyssexp.cli import app
from tests.training.helpers import new_tiny

pytestmark = pytest.mark.slow

EXP = "proj/train/1"


@dataclass(frozen=True)
class World:
    """A copied scratch and store, the outside folder, and the trained experiment's name."""

    scratch: Path
    store: Path
    outside: Path
    name: str
    test_coco: Path

    @property
    def exp(self) -> Path:
        return self.scratch / "proj" / "train" / self.name


def _invoke(runner: Any, args: list[str]) -> Any:
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, shapes: dict[str, Path]) -> dict[str, Any]:
    """A trained, tested, promoted experiment; an archived one; a sweep run to completion."""
    from typer.testing import CliRunner

    runner = CliRunner()
    top = tmp_path_factory.mktemp("harness")
    scratch, store = top / "scratch", top / "store"
    env = {
        "ABYSSEXP_SCRATCH": str(scratch),
        "ABYSSEXP_STORE": str(store),
        "ABYSSEXP_CONFIG": str(top / "no-config.toml"),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        root = new_tiny(runner, shapes, "--set", "training.epochs=2")
        for args in (
            ["train", str(root), "--quiet"],
            ["test", str(root), "--coco", str(shapes["test"]), "--condition", "c1"],
            [
                "promote",
                str(root),
                "--accept",
                "constant_predictions,small_test_set",
            ],  # a tiny model, 24 images
        ):
            result = _invoke(runner, args)
            assert result.exit_code == 0, (args, result.output)
        archived = new_tiny(runner, shapes, name="gone")
        assert _invoke(runner, ["archive", str(archived)]).exit_code == 0
        sweep = _invoke(
            runner,
            ["sweep", "new", "proj", "train", "sw", "--from", EXP, "--grid", "training.lr=0.002"],
        )
        assert sweep.exit_code == 0, sweep.output
        done = subprocess.run(
            [sys.executable, "-m", "abyssexp", "sweep", "run", "proj/train/s001"],
            env={**os.environ},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {"top": top, "name": root.name, "test": shapes["test"], "summary": []}


@pytest.fixture
def world(base: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    scratch, store = tmp_path / "scratch", tmp_path / "store"
    shutil.copytree(base["top"] / "scratch", scratch, symlinks=True)
    shutil.copytree(base["top"] / "store", store, symlinks=True)
    (scratch / ".cache" / "images").mkdir(parents=True, exist_ok=True)
    (scratch / ".cache" / "images" / "entry.bin").write_bytes(b"cached")
    shutil.copytree(base["top"] / "store", tmp_path / "store-copy", symlinks=True)
    monkeypatch.setenv("ABYSSEXP_SCRATCH", str(scratch))
    monkeypatch.setenv("ABYSSEXP_STORE", str(store))
    monkeypatch.setenv("ABYSSEXP_CONFIG", str(tmp_path / "no-config.toml"))
    outside = tmp_path / "outside"
    outside.mkdir()
    yield World(scratch, store, outside, base["name"], base["test"])
    _remove(tmp_path)  # ~100 MB of checkpoints per case: never let 300 cases fill the disk


def _remove(folder: Path) -> None:
    for dirpath, _dirs, _files in os.walk(folder):  # sealed promotions are read-only
        if not os.path.islink(dirpath):
            os.chmod(dirpath, 0o755)
    shutil.rmtree(folder, ignore_errors=True)


def _positions(w: World) -> dict[str, Path]:
    """Where a link is planted: every folder level of both trees, and every lock file."""
    exp = w.exp
    return {
        "project": w.scratch / "proj",
        "type": w.scratch / "proj" / "train",
        "experiment": exp,
        "models/": exp / "models",
        "logs/": exp / "logs",
        "testing/": exp / "testing",
        "datasets/": exp / "datasets",
        ".cache/": w.scratch / ".cache",
        ".sweeps/": w.scratch / "proj" / "train" / ".sweeps",
        ".claims/": w.scratch / "proj" / "train" / ".claims",
        ".archive/": w.scratch / ".archive",
        "store project": w.store / "proj",
        "store type": w.store / "proj" / "train",
        "store model": w.store / "proj" / "train" / w.name,
        ".registry.lock": w.store / ".registry.lock",
        ".record.lock": exp / ".record.lock",
        ".train.lock": exp / ".train.lock",
        ".readme.lock": exp / ".readme.lock",
    }


POSITIONS = [
    "project",
    "type",
    "experiment",
    "models/",
    "logs/",
    "testing/",
    "datasets/",
    ".cache/",
    ".sweeps/",
    ".claims/",
    ".archive/",
    "store project",
    "store type",
    "store model",
    ".registry.lock",
    ".record.lock",
    ".train.lock",
    ".readme.lock",
]


def _plant(w: World, where: Path) -> None:
    """Replace ``where`` by a link to a folder outside holding its contents and sentinels."""
    target = w.outside / "target"
    if where.name.endswith(".lock"):
        target.mkdir()
        if where.exists() or where.is_symlink():
            where.unlink()
        where.symlink_to(target / "created-through-the-link")  # O_CREAT would create it
    else:
        if where.exists():
            shutil.move(str(where), str(target))
        else:
            target.mkdir()
        where.symlink_to(target, target_is_directory=True)
    (target / "sentinel.txt").write_text("must stay")
    (target / "model_1.keras").write_bytes(b"sentinel checkpoint")
    (target / "images").mkdir(exist_ok=True)
    (target / "images" / "keep.bin").write_bytes(b"sentinel")


def snapshot(folder: Path) -> dict[str, Any]:
    """Every entry under ``folder``: bytes of files, targets of links, and folder names."""
    found: dict[str, Any] = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = Path(dirpath) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_file():
                found[key] = ("file", path.read_bytes())
            else:
                found[key] = ("dir",)
    return found


def stat_snapshot(folder: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``folder`` by kind, size and mtime (links by target): cheap enough for
    the ~100 MB of checkpoints each case's scratch holds, and a write changes size or mtime."""
    found: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(dirpath) / name
            key = str(path.relative_to(folder))
            info = path.lstat()
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_file():
                found[key] = ("file", info.st_size, info.st_mtime_ns)
            else:
                found[key] = ("dir",)
    return found


def _trees(w: World) -> dict[str, Path]:
    return {"scratch": w.scratch, "store": w.store}


def _experiment_of(w: World, ref: str) -> str:
    """``proj/train/NNN.…``, the folder a ``PROJECT/TYPE/N`` reference names, relative."""
    number = f"{int(ref.rsplit('/', 1)[1]):03d}."
    found = [p.name for p in (w.scratch / "proj" / "train").iterdir() if p.name.startswith(number)]
    archived = w.scratch / ".archive" / "proj" / "train"
    found += [p.name for p in archived.glob(number + "*")] if archived.is_dir() else []
    return f"proj/train/{found[0]}" if found else f"proj/train/{number}"


def allowed_changes(w: World, command: str) -> dict[str, list[str]]:
    """Tree → the folders (relative) ``command`` may change there when it runs; nothing else in
    the scratch or store may change (a store repair of a copied store touches neither)."""
    exp = f"proj/train/{w.name}"
    sweep_trials = [exp2 for exp2 in (_experiment_of(w, "proj/train/3"),)]
    new_experiments = ["proj/train/.claims", "proj/train/.sweeps", "proj/train/+"]
    scratch = {
        "train": [exp],
        "train (disk cache)": [exp, ".cache"],
        "test": [exp, ".cache"],
        "gc": [exp + "/models"],
        "gc --all": ["proj/train/*/models"],
        "rm": [_experiment_of(w, "proj/train/3"), ".archive"],
        "archive": [exp, ".archive"],
        "restore": [_experiment_of(w, "proj/train/2"), ".archive"],
        "promote": sweep_trials,
        "cache clear": [".cache"],
        "sweep new": new_experiments,
        "sweep run": [*new_experiments, *sweep_trials],
        "report": [exp],
        "note": [exp],
        "tag": [exp],
        "data split": [exp + "/datasets"],
    }.get(command, [])
    store = ["*"] if command in {"promote", "alias set", "store repair"} else []
    return {"scratch": scratch, "store": store}


def _is_allowed(key: str, allowed: list[str], before: dict[str, Any]) -> bool:
    parts = key.split("/")
    for prefix in allowed:
        if prefix == "*":
            return True
        wanted = prefix.split("/")
        if wanted[-1] == "+":  # a folder that did not exist before (a new experiment)
            head = "/".join(parts[: len(wanted)])
            if parts[: len(wanted) - 1] == wanted[:-1] and head not in before:
                return True
            continue
        if all(w_ == "*" or w_ == k for w_, k in zip(wanted, parts, strict=False)) and len(
            parts
        ) >= len(wanted):
            return True
        if len(parts) < len(wanted) and all(
            w_ == "*" or w_ == k for w_, k in zip(wanted, parts, strict=False)
        ):
            return True  # a folder on the way to an allowed one (its mtime changes)
    return False


def unexpected_changes(
    w: World, allowed: dict[str, list[str]], before: dict[str, dict[str, Any]]
) -> list[str]:
    """What changed in the scratch or store outside ``allowed`` (``allowed_changes``, taken
    before the command: ``rm`` removes the folder that names what it may change)."""
    wrong = []
    for tree, folder in _trees(w).items():
        after = stat_snapshot(folder)
        old = before[tree]
        for key in sorted(set(old) | set(after)):
            if key.endswith(CACHES) or key in CACHES:
                continue  # abyssexp's own caches, which reading commands refresh
            if old.get(key) != after.get(key) and not _is_allowed(key, allowed[tree], old):
                wrong.append(f"{tree}/{key}")
    return wrong


#: Caches any command that reads may rewrite: a type folder's list index, the image hashes.
CACHES = ("/.index.json", ".cache/hashes.json")


def _commands(w: World) -> dict[str, Callable[[], list[str]]]:
    promoted = str(w.store / "proj" / "train" / w.name)
    return {
        "train": lambda: ["train", EXP, "--resume", "--epochs", "3", "--quiet"],
        "train (disk cache)": lambda: [
            "train", EXP, "--resume", "--epochs", "3", "--quiet", "--set", "training.cache=disk",
        ],
        "test": lambda: ["test", EXP, "--coco", str(w.test_coco), "--condition", "c2"],
        "gc": lambda: ["gc", EXP, "--keep", "1"],
        "gc --all": lambda: ["gc", "--all", "--keep", "1"],
        "rm": lambda: ["rm", "proj/train/3", "--yes"],
        "archive": lambda: ["archive", EXP],
        "restore": lambda: ["restore", "proj/train/2"],
        "promote": lambda: ["promote", "proj/train/3", "--force-untested"],
        "alias set": lambda: ["alias", "set", "proj/train", "candidate", w.name]
        + ["--accept", "constant_predictions,small_test_set"],
        "cache clear": lambda: ["cache", "clear"],
        "sweep new": lambda: [
            "sweep", "new", "proj", "train", "sw2", "--from", EXP, "--grid", "training.lr=0.001",
        ],
        "sweep run": lambda: ["sweep", "run", "proj/train/s001"],
        "export": lambda: [
            "export", promoted, "--format", "savedmodel", "--out", str(w.outside.parent / "x"),
        ],
        "report": lambda: ["report", EXP],
        "note": lambda: ["note", EXP, "a purpose", "--conclusion", "it worked"],
        "tag": lambda: ["tag", EXP, "harness"],
        "store repair": lambda: ["store", "repair"],
        "store repair (copy)": lambda: [
            "store", "repair", "--store", str(w.store.parent / "store-copy"),
        ],
        "data split": lambda: [
            "data", "split", str(w.test_coco), "--val", "0.5",
            "--out-dir", str(w.exp / "datasets" / "split"),
        ],
    }  # fmt: skip


COMMANDS = [
    "train",
    "train (disk cache)",
    "test",
    "gc",
    "gc --all",
    "rm",
    "archive",
    "restore",
    "promote",
    "alias set",
    "cache clear",
    "sweep new",
    "sweep run",
    "export",
    "report",
    "note",
    "tag",
    "store repair",
    "store repair (copy)",
    "data split",
]
#: Commands that would train, evaluate or convert a model where the link is not in their way:
#: they are run against the positions of the trees they work in (the scratch, or the store).
SLOW = {
    "train": "scratch",
    "train (disk cache)": ".cache/",
    "test": "scratch",
    "sweep run": "scratch",
    "export": "store",
}
STORE_POSITIONS = {"store project", "store type", "store model", ".registry.lock"}


def _wanted(command: str, position: str) -> bool:
    tree = SLOW.get(command)
    if tree == "scratch":
        return position not in STORE_POSITIONS
    if tree == "store":
        return position in STORE_POSITIONS
    if tree is not None:
        return position == tree
    return True


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("command", COMMANDS)
def test_no_command_writes_or_deletes_through_a_link(
    runner: Any, world: World, base: dict[str, Any], command: str, position: str
) -> None:
    if not _wanted(command, position):
        pytest.skip(f"{command} is checked against the {SLOW[command]} positions")
    _plant(world, _positions(world)[position])
    before = snapshot(world.outside)
    trees = {tree: stat_snapshot(folder) for tree, folder in _trees(world).items()}
    allowed = allowed_changes(world, command)
    result = runner.invoke(app, _commands(world)[command]())
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert snapshot(world.outside) == before, (command, position, result.output)
    wrong = unexpected_changes(world, allowed, trees)
    assert not wrong, (command, position, wrong[:10], result.output)
    verdict = "refused" if result.exit_code else "ran"
    if result.exit_code != 0 and command == "store repair" and "not followed" in result.output:
        verdict = "reported"  # repair goes on and lists every problem, the link among them
    elif result.exit_code != 0:
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        assert len(lines) == 1, result.output
    base["summary"].append((command, position, verdict))


def test_names_read_from_files_never_leave_the_roots(runner: Any, world: World) -> None:
    """Sweep trials, registry rows and record names that climb out with ``..``."""
    victim = world.scratch.parent / "victimexp"
    victim.mkdir()
    (victim / "sentinel.txt").write_text("must stay")
    before = snapshot(world.scratch.parent / "victimexp")
    sweep_file = world.scratch / "proj" / "train" / ".sweeps" / "s001.json"
    data = json.loads(sweep_file.read_text())
    data["trials"][0]["name"] = "../../../victimexp"
    sweep_file.write_text(json.dumps(data))
    result = runner.invoke(app, ["sweep", "run", "proj/train/s001"])
    assert result.exit_code == 2, result.output
    assert "s001.json" in result.output
    registry = world.store / "registry.json"
    data = json.loads(registry.read_text())
    data["models"][0]["path"] = "../../victimexp"
    registry.write_text(json.dumps(data))
    for args in (
        ["promoted"],
        [
            "alias",
            "set",
            "proj/train",
            "x",
            world.name,
            "--accept",
            "constant_predictions,small_test_set",
        ],
        ["store", "repair"],
    ):
        result = runner.invoke(app, args)
        assert "Traceback" not in result.output
    assert snapshot(victim) == before


def test_summary(base: dict[str, Any]) -> None:
    """Writes the harness summary; runs last (pytest keeps definition order without -p randomly)."""
    rows = base["summary"]
    if not rows:
        pytest.skip("the harness cases did not run in this session")
    out = base["top"] / "link-harness-summary.txt"
    commands = sorted({c for c, _, _ in rows})
    lines = [
        f"{len(rows)} cases ({len(commands)} commands x link positions): outside unchanged, "
        "scratch and store changed only where the command works"
    ]
    for command in commands:
        mine = [(p, v) for c, p, v in rows if c == command]
        refused = sum(v == "refused" for _, v in mine)
        reported = sum(v == "reported" for _, v in mine)
        extra = f", {reported} reported" if reported else ""
        lines.append(
            f"  {command:19} {len(mine):2} positions, {refused:2} refused{extra}, all unchanged"
        )
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

"""The type folder's index (``.index.json``): ``list``, ``--filter``, ``--changed`` and
``compare`` print byte for byte what they print without it, however the experiments' files
change behind its back and whatever the index file holds."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.experiment import index as index_module
from abyssexp.experiment import summary_cache as summary_file
from abyssexp.experiment.index import INDEX_FILE, indexed
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.param_filters import Delta, _own, delta_of
from abyssexp.schemas.index import INDEX_ADAPTER, ROW_KEYS

HISTORY = "epoch,loss,val_loss,val_accuracy\n1,0.9,0.80,0.50\n2,0.7,0.60,0.70\n3,0.6,0.65,0.75\n"
OUTPUTS = (
    ["list"],
    ["list", "--json"],
    ["list", "--csv"],
    ["list", "--wide"],
    ["list", "--changed"],
    ["list", "--changed", "--json"],
    ["list", "--changed", "--csv"],
    ["list", "--filter", "training.lr<0.25"],
    ["list", "--filter", "training.lr<0.25", "--changed", "--json"],
    ["list", "--filter", "status=completed", "--csv"],
    ["compare", "p/t/*"],
    ["compare", "p/t/*", "--json"],
    ["compare", "p/t/*", "--csv"],
    ["compare", "p/t/*", "--wide"],
    ["compare", "p/t/*", "--metric", "val_accuracy"],
    ["compare", "p/t/*", "--filter", "training.lr>0.15"],
)
#: A short "racy" window, so the tests need not wait seconds before an entry may be kept.
RACY_NS = 50_000_000


@pytest.fixture(autouse=True)
def _short_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "RACY_NS", RACY_NS)
    monkeypatch.setattr(summary_file, "RACY_NS", RACY_NS)


def _settle() -> None:
    time.sleep(3 * RACY_NS / 1e9)


def _new(runner, *args: str) -> ExperimentPaths:
    made = runner.invoke(app, ["new", "p", "t", "d", *args])
    assert made.exit_code == 0, made.output
    return ExperimentPaths(Path(made.stdout.strip().splitlines()[-1]))


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The experiments of ``experiments``, made once per module: each test gets a copy."""
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("index-template")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABYSSEXP_SCRATCH", str(base / "scratch"))
        patch.setenv("ABYSSEXP_STORE", str(base / "store"))
        patch.setenv("ABYSSEXP_CONFIG", str(base / "no-config.toml"))
        made = _varied_experiments(CliRunner())
    return base / "scratch", [paths.root.relative_to(base / "scratch") for paths in made]


@pytest.fixture
def experiments(template: tuple[Path, list[Path]], scratch: Path) -> list[ExperimentPaths]:
    """A copy of the module's varied experiments in this test's scratch (no index yet)."""
    source, folders = template
    shutil.copytree(source, scratch, symlinks=True)
    _settle()
    return [ExperimentPaths(scratch / folder) for folder in folders]


def _varied_experiments(runner) -> list[ExperimentPaths]:
    """Experiments made varied on purpose: histories, a train provenance, params with lists,
    NaN, a dict in another key order, a missing section, params that are not JSON or missing,
    tests, tags and notes, a running record whose process is gone, a record that does not
    parse and one with a field of the wrong type."""
    made = [_new(runner, "--set", f"training.lr={lr}") for lr in ("0.1", "0.2", "0.3", "0.4")]
    made += [_new(runner, "--note", "ünïcode purpose\nsecond line") for _ in range(4)]
    made[0].history.write_text(HISTORY)
    made[1].history.write_text(HISTORY.replace("0.75", "0.85"))
    provenance = json.loads(made[1].provenance.read_text())
    provenance["train"] = {"git": {"commit": "a" * 40, "dirty": True}, "host": "h", "datasets": {}}
    made[1].provenance.write_text(json.dumps(provenance))

    def params_variety(data: dict) -> None:
        data["training"]["lr_schedule_params"] = {"b": 1, "a": [1.0, -0.0, float("nan")]}
        data["model"]["input_shape"] = [32, 32, 3]
        data["training"]["epochs"] = 1.0

    _edit_json(made[2].params, params_variety)
    _edit_json(made[3].params, lambda data: data.pop("augmentation"))
    made[4].params.write_text("{not json")
    made[5].params.unlink()

    def finished(record: dict) -> None:
        record.update(status="completed", epochs_done=3, tags=["b", "a"])
        record["best"] = {"metric": "val_loss", "value": 0.6, "epoch": 2}
        record["tests"] = {"shapes": {"accuracy": 0.75, "images": 24, "n": 24}}
        record["promotions"] = [{"path": "x", "aliases": ["prod"]}]

    _edit_json(made[0].record, finished)
    _edit_json(
        made[1].record, lambda r: r.update(status="running", pid=7, host="gone", heartbeat_unix=1.0)
    )
    _edit_json(made[6].record, lambda r: r.update(epochs_done="3", heartbeat_unix=None))
    made[7].record.write_text("{broken")
    return made


def _indexes(scratch: Path) -> list[Path]:
    return sorted(scratch.glob(f"*/*/{INDEX_FILE}"))


def _outputs(runner) -> list[str]:
    printed = []
    for args in OUTPUTS:
        result = runner.invoke(app, args, env={"COLUMNS": "80"})
        assert result.exit_code == 0, (args, result.output)
        printed.append(result.output)
    return printed


def _without_index(runner, scratch: Path) -> list[str]:
    """The reference: what the commands print with no index (each command reads every file;
    the index each one writes back is removed before the next)."""
    printed = []
    for args in OUTPUTS:
        for path in _indexes(scratch):
            path.unlink()
        result = runner.invoke(app, args, env={"COLUMNS": "80"})
        assert result.exit_code == 0, (args, result.output)
        printed.append(result.output)
    return printed


def _index(scratch: Path) -> dict:
    (path,) = _indexes(scratch)
    return INDEX_ADAPTER.validate_json(path.read_bytes())


def test_index_is_written_and_changes_nothing(runner, experiments, scratch: Path) -> None:
    reference = _without_index(runner, scratch)
    _outputs(runner)  # every part of every entry made and kept
    entries = _index(scratch)["entries"]
    readable = [p for p in experiments if p.root.name != experiments[7].root.name]
    assert all(entries[p.root.name]["record"] for p in readable)
    assert entries[experiments[7].root.name]["record"] is None  # unreadable: never kept
    assert all(entries[p.root.name]["params"] and entries[p.root.name]["summary"] for p in readable)
    assert _outputs(runner) == reference
    assert "crashed" in reference[0] and "unreadable" in reference[0]


def _stale(runner, experiments: list[ExperimentPaths]) -> None:
    """Change the files behind the index's back, each way a stat must catch."""
    first, second, third = experiments[:3]
    tagged = runner.invoke(app, ["tag", str(first.root), "late"])
    assert tagged.exit_code == 0, tagged.output
    before = third.params.stat()
    text = third.params.read_text()
    edited = text.replace('"lr": 0.3', '"lr": 0.9')
    assert len(edited) == len(text)
    with open(third.params, "r+") as handle:  # same inode and size, the old mtime put back
        handle.write(edited)
    os.utime(third.params, ns=(before.st_atime_ns, before.st_mtime_ns))
    second.history.write_text(HISTORY + "4,0.5,0.10,0.99\n")
    experiments[4].params.write_text(json.dumps({"training": {"lr": 0.05}}))
    experiments[6].record.write_text(experiments[6].record.read_text())  # same bytes, new ctime


def test_stale_entries_are_made_again(runner, experiments, scratch: Path) -> None:
    _outputs(runner)
    old = _indexes(scratch)[0].read_bytes()
    _stale(runner, experiments)
    moved = experiments[5].root.rename(experiments[5].root.with_name("099.d"))
    _new(runner, "--set", "training.lr=0.15")
    reference = _without_index(runner, scratch)
    assert "late" in reference[1] and "0.9" in reference[5] and "0.99" in reference[11]
    _indexes(scratch)[0].write_bytes(old)  # the index of before the changes
    assert _outputs(runner) == reference
    names = set(_index(scratch)["entries"])
    assert moved.name in names and experiments[5].root.name not in names
    assert _outputs(runner) == reference


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b'{"index_version": 99, "base": "{}", "entries": {}}',
        bytes(range(256)) * 4,
        b"\xff\xfe not utf-8",
    ],
)
def test_damaged_index_is_rebuilt(runner, experiments, scratch: Path, damage: bytes) -> None:
    reference = _without_index(runner, scratch)
    _indexes(scratch)[0].write_bytes(damage)
    assert _outputs(runner) == reference
    assert _index(scratch)["entries"]  # rewritten, valid


@pytest.mark.parametrize(
    "forge",
    [
        lambda e: e["record"][1].__setitem__(ROW_KEYS.index("epochs_done"), "3"),
        lambda e: e["record"][1].append(1),
        lambda e: e["record"].__setitem__(0, [1, 2, 3]),
        lambda e: e.update(params="{not json"),
        lambda e: e.update(params=json.dumps({"stat": None, "set": {}, "unset": "x"})),
        lambda e: e.update(summary=json.dumps({"history": None})),
    ],
    ids=["type", "extra-field", "short-stat", "params-text", "params-shape", "summary-shape"],
)
def test_entry_not_valid_by_its_schema_is_not_used(runner, experiments, scratch, forge) -> None:
    reference = _without_index(runner, scratch)
    path = _indexes(scratch)[0]
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        if entry["record"]:
            forge(entry)
    path.write_text(json.dumps(data))
    assert _outputs(runner) == reference


def test_row_keys_are_the_fields_a_record_gives(experiments) -> None:
    """The index keeps a row as an array in ``ROW_KEYS``' order: ``record_fields`` makes it and
    ``located_row`` reads it by position, so both must agree with that order (the one place the
    array's meaning is written)."""
    from abyssexp.experiment.list_rows import located_row, record_fields
    from abyssexp.experiment.record_file import load_record

    assert len(record_fields(load_record(experiments[0].record))) == len(ROW_KEYS)
    marks = tuple(None if key == "live" else f"value of {key}" for key in ROW_KEYS)
    row = located_row("p", "t", "001.d", 1, "/x", marks)
    placed = [key for key in row if key in ROW_KEYS]
    assert all(row[key] == f"value of {key}" for key in placed if key != "live")
    assert set(ROW_KEYS) - set(placed) == {"live"}  # it decides the status instead
    assert placed == [key for key in ROW_KEYS if key != "live"]  # list --json keeps the order
    from abyssexp.experiment.list_rows import ListRow

    assert list(row) == [key for key in ListRow.__annotations__ if key != "_flat"]  # its type


def test_index_of_the_first_version_is_rebuilt(runner, experiments, scratch: Path) -> None:
    """An index written before rows were arrays (version 1, rows as objects) is not read."""
    reference = _without_index(runner, scratch)
    path = _indexes(scratch)[0]
    data = json.loads(path.read_text())
    data["index_version"] = 1
    for entry in data["entries"].values():
        if entry["record"]:
            stat, row, times = entry["record"]
            entry["record"] = {
                "stat": stat,
                "row": dict(zip(ROW_KEYS, row, strict=True)),
                "times": times,
            }
    path.write_text(json.dumps(data))
    assert _outputs(runner) == reference
    assert _index(scratch)["index_version"] == 2


def test_index_that_is_not_a_regular_file(runner, experiments, scratch: Path) -> None:
    reference = _without_index(runner, scratch)
    path = _indexes(scratch)[0]
    path.unlink()
    path.symlink_to("/dev/zero")
    assert _outputs(runner) == reference
    assert not path.is_symlink()  # replaced by a real index, the link never followed
    path.unlink()
    path.mkdir()  # in the way: nothing can be written, nothing changes
    assert _outputs(runner) == reference
    assert [p.name for p in path.parent.iterdir() if ".tmp" in p.name] == []


def test_index_past_its_bound_is_not_read(runner, experiments, scratch, monkeypatch) -> None:
    reference = _without_index(runner, scratch)
    monkeypatch.setattr(index_module, "MAX_INDEX_BYTES", 100)
    assert _outputs(runner) == reference
    assert _indexes(scratch)[0].stat().st_size > 100  # the one written before the bound


def test_racy_sources_are_not_kept(runner, experiments, scratch: Path, monkeypatch) -> None:
    """A source changed within ``RACY_NS`` of its stat could change again in the same tick of
    the file system's clock with the same stat: its part is not kept, and made each time."""
    monkeypatch.setattr(index_module, "RACY_NS", 3_600 * 10**9)
    reference = _without_index(runner, scratch)
    entries = _index(scratch)["entries"]
    assert all(e["record"] is None and e["summary"] is None for e in entries.values())
    kept = [name for name, e in entries.items() if e["params"] is not None]
    assert kept == [experiments[5].root.name]  # a missing params.json: nothing to change
    assert _outputs(runner) == reference


def test_concurrent_writers_never_tear_the_index(experiments, scratch: Path) -> None:
    """Processes that write the index at once: the last one wins, none is torn (a temporary
    file renamed over it), and what each printed is the same."""
    command = [sys.executable, "-m", "abyssexp", "list", "--changed", "--json"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for _ in range(3):
        for path in _indexes(scratch):
            path.unlink()
        children = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        printed = {child.communicate()[0] for child in children}
        assert all(child.returncode == 0 for child in children)
        assert len(printed) == 1
        assert _index(scratch)["entries"]
    assert [p.name for p in _indexes(scratch)[0].parent.iterdir() if ".tmp" in p.name] == []


def test_deltas_compare_as_the_params_they_stand_for() -> None:
    """Two deltas of one base are compared by their differences alone: the same answer as
    comparing the params whole, for values whose JSON texts differ in every way."""
    values = [1, 1.0, True, 0.0, -0.0, float("nan"), None, "1", [1, 2], [1.0, 2], {"a": 1}]
    values += [{"b": 2, "a": 1}, {"a": 1, "b": 2}, [float("nan")], [-0.0]]
    generator = random.Random(0)
    base = {f"k{i}": generator.choice(values) for i in range(12)}
    for _ in range(300):
        flats = []
        for _ in range(2):
            flat = {
                k: generator.choice(values) if generator.random() < 0.3 else v
                for k, v in base.items()
            }
            for key in generator.sample(sorted(flat), 2):
                if generator.random() < 0.3:
                    del flat[key]
            flat["new"] = generator.choice(values) if generator.random() < 0.5 else None
            flats.append(flat)
        deltas = [Delta(base, *_parts(delta_of(flat, base))) for flat in flats]
        assert dict(deltas[0]).keys() == flats[0].keys()
        by_delta, whole = _own(*deltas), _own(*flats)
        assert by_delta.keys() == whole.keys()
        assert all(json.dumps(by_delta[k]) == json.dumps(whole[k]) for k in whole)


def _parts(delta: tuple[dict, list[str]]) -> tuple[dict, frozenset[str]]:
    return delta[0], frozenset(delta[1])


def test_indexed_reads_each_source_once_per_change(experiments, scratch: Path, monkeypatch) -> None:
    """With a current index, a command opens no experiment's files: it stats them."""
    from abyssexp.experiment import index as module
    from abyssexp.experiment.list_rows import experiment_folders

    found = list(experiment_folders(scratch))
    indexed(found, params=True, summary=True, complete=True, root=scratch)
    _settle()
    indexed(found, params=True, summary=True, complete=True, root=scratch)
    opened: list[str] = []
    for name in ("load_record", "read_params_dict", "current_summary"):
        original = getattr(module, name)

        def spy(path, original=original):
            opened.append(str(path))
            return original(path)

        monkeypatch.setattr(module, name, spy)
    items = indexed(found, params=True, summary=True, complete=True, root=scratch)
    broken = str(experiments[7].record)
    assert set(opened) <= {broken, str(experiments[7].root)}
    assert len(items) == len(experiments)


def test_archive_has_its_own_index_and_outside_folders_none(
    runner, experiments, scratch: Path, tmp_path: Path
) -> None:
    """Archiving moves an experiment out of the type folder's index (its entry goes at the next
    `list`) into the archive's; a folder given by its path outside the scratch is read without
    writing an index beside it."""
    archived = runner.invoke(app, ["archive", str(experiments[3].root)])
    assert archived.exit_code == 0, archived.output
    listed = [runner.invoke(app, ["list", "--archived", "--json"]).output for _ in range(2)]
    assert listed[0] == listed[1] and experiments[3].root.name in listed[0]
    assert (scratch / ".archive" / "p" / "t" / INDEX_FILE).is_file()
    runner.invoke(app, ["list"])
    assert experiments[3].root.name not in _index(scratch)["entries"]
    outside = tmp_path / "elsewhere" / "q" / "u"
    outside.mkdir(parents=True)
    copy = outside / experiments[0].root.name
    subprocess.run(["cp", "-a", str(experiments[0].root), str(copy)], check=True)
    compared = runner.invoke(app, ["compare", str(copy), str(experiments[1].root)])
    assert compared.exit_code == 0, compared.output
    assert not (outside / INDEX_FILE).exists()

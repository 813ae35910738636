"""Issue 22, "Trust, second round": one regression test per numbered case (``case_N`` in each
name). None trains a model: experiments are made by ``new`` and stand-in checkpoints
(``tests/store/conftest.make_tested``), which promotion, gc and the store never load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from abyssexp.cli import app
from tests.store.conftest import make_tested, one_line_error


def snapshot(folder: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = Path(dirpath) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                found[key] = os.readlink(path)
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "dir"
    return found


def _link_away(where: Path, outside: Path) -> None:
    """Move ``where`` to ``outside`` and leave a symlink to it (``ln -s $PWD/out/exp ...``)."""
    shutil.move(str(where), str(outside))
    where.symlink_to(outside, target_is_directory=True)


@pytest.fixture
def tested(runner: Any, scratch: Path):
    return lambda name="ds", **kwargs: make_tested(runner, name, **kwargs)


# --- 1-7: outside the owned folders -------------------------------------------------------


def test_case_1_gc_refuses_a_symlinked_experiment_folder(runner, tested, tmp_path) -> None:
    root = tested()
    (root / "models" / "model_1.keras").write_bytes(b"epoch 1")
    (root / "models" / "model_2.keras").write_bytes(b"epoch 2")
    out = tmp_path / "out" / "exp"
    out.parent.mkdir()
    _link_away(root, out)
    before = snapshot(out)
    result = runner.invoke(app, ["gc", "proj/cls/1", "--keep", "1"])
    assert result.exit_code == 1
    assert "symlink" in one_line_error(result.output)
    assert snapshot(out) == before


def test_case_1_gc_all_refuses_a_symlinked_project(runner, tested, tmp_path, scratch) -> None:
    root = tested()
    (root / "models" / "model_1.keras").write_bytes(b"epoch 1")
    out = tmp_path / "out"
    _link_away(scratch / "proj", out)
    before = snapshot(out)
    result = runner.invoke(app, ["gc", "--all", "--keep", "1"])
    # Issue 31 case 16: skipped with a warning, and gc goes on with the rest.
    assert result.exit_code == 0, result.output
    assert "warning: skipped:" in result.output and "symlink" in result.output
    assert snapshot(out) == before


def test_case_2_cache_clear_refuses_a_symlinked_cache(runner, scratch, tmp_path) -> None:
    scratch.mkdir(parents=True)
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    (out / "images" / "other.bin").write_bytes(b"not a cache entry")
    (scratch / ".cache").symlink_to(out, target_is_directory=True)
    before = snapshot(out)
    result = runner.invoke(app, ["cache", "clear"])
    assert result.exit_code == 1
    assert "symlink" in one_line_error(result.output)
    assert snapshot(out) == before


def test_case_3_promote_refuses_a_symlinked_store_project(runner, tested, tmp_path) -> None:
    root = tested()
    store = tmp_path / "store"
    out = tmp_path / "out"
    stale = out / "cls" / ".tmp-promote.stale"
    stale.mkdir(parents=True)
    (stale / "keep.bin").write_bytes(b"keep")
    store.mkdir()
    (store / "proj").symlink_to(out, target_is_directory=True)
    before = snapshot(out)
    result = runner.invoke(app, ["promote", str(root)])
    assert result.exit_code == 1
    assert "symlink" in one_line_error(result.output)
    assert snapshot(out) == before


def _sweep_file(scratch: Path, trial_name: str) -> Path:
    sweeps = scratch / "proj" / "cls" / ".sweeps"
    sweeps.mkdir(parents=True, exist_ok=True)
    path = sweeps / "s001.json"
    path.write_text(
        json.dumps(
            {
                "id": "s001",
                "project": "proj",
                "type": "cls",
                "created": "2026-01-01T00:00:00Z",
                "user": "me",
                "command_line": ["abyssexp"],
                "trials": [{"index": 0, "name": trial_name, "number": 1}],
            }
        )
    )
    return path


def test_case_4_sweep_run_refuses_a_trial_name_that_climbs_out(runner, tested, scratch) -> None:
    tested()
    victim = scratch.parent / "victimexp"
    victim.mkdir()
    (victim / "sentinel.txt").write_text("keep")
    _sweep_file(scratch, "../../../victimexp")
    result = runner.invoke(app, ["sweep", "run", "proj/cls/s001"])
    assert result.exit_code == 2
    assert "trials.0.name" in one_line_error(result.output)
    assert snapshot(victim) == {"sentinel.txt": b"keep"}


def test_case_4_sweep_run_refuses_a_sweep_file_out_of_place(runner, tested, scratch, tmp_path):
    root = tested()
    placed = _sweep_file(scratch, root.name)
    elsewhere = tmp_path / "s001.json"
    shutil.copy(placed, elsewhere)
    result = runner.invoke(app, ["sweep", "run", str(elsewhere)])
    assert result.exit_code == 2
    assert "not a sweep file in its place" in one_line_error(result.output)


def test_case_5_cancel_never_signals_a_process_the_record_does_not_identify(runner, tested) -> None:
    root = tested()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = json.loads((root / "record.json").read_text())
        import socket

        record.update(
            status="running",
            pid=bystander.pid,
            host=socket.gethostname(),
            heartbeat_unix=time.time(),
            pid_start=1,  # a planted or stale record: the start time is not the bystander's
        )
        (root / "record.json").write_text(json.dumps(record))
        result = runner.invoke(app, ["cancel", "proj/cls/1"])
        assert result.exit_code == 0, result.output
        assert "nothing to stop" in result.output
        time.sleep(0.3)
        assert bystander.poll() is None, "cancel signalled an unrelated process"
        del record["pid_start"]  # a record of an older abyssexp: nothing identifies the process
        (root / "record.json").write_text(json.dumps(record))
        runner.invoke(app, ["cancel", "proj/cls/1"])
        time.sleep(0.3)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.slow
def test_case_5_cancel_signals_the_process_the_record_identifies(runner, scratch, shapes) -> None:
    """A real ``abyssexp train`` in a child process: its pid, start time, command line and
    training lock all name it, so ``cancel`` stops it (issue 31 case 6 for the refusals)."""
    from tests.training.helpers import new_tiny

    root = new_tiny(runner, shapes, "--set", "training.epochs=500")
    target = subprocess.Popen(
        [sys.executable, "-m", "abyssexp", "train", str(root), "--quiet"],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while json.loads((root / "record.json").read_text())["status"] != "running":
            assert target.poll() is None and time.monotonic() < deadline, "training never ran"
            time.sleep(0.5)
        time.sleep(1)  # marked running just before its signal handlers are installed
        result = runner.invoke(app, ["cancel", str(root)])
        assert result.exit_code == 0, result.output
        assert f"SIGTERM to pid {target.pid}" in result.output
        target.wait(timeout=120)
        assert json.loads((root / "record.json").read_text())["status"] == "interrupted"
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()


def test_case_6_lock_files_are_never_opened_through_a_symlink(runner, tested, tmp_path) -> None:
    root = tested()
    store = tmp_path / "store"
    out = tmp_path / "out"
    out.mkdir()
    store.mkdir()
    (store / ".registry.lock").symlink_to(out / "created-through-the-link")
    result = runner.invoke(app, ["promote", str(root)])
    assert result.exit_code == 1
    assert "lock file is a symlink" in one_line_error(result.output)
    assert list(out.iterdir()) == []


def test_case_7_a_store_reached_by_two_paths_registers_once(runner, tested, tmp_path) -> None:
    root = tested()
    store = tmp_path / "store"
    assert runner.invoke(app, ["promote", str(root), "--store", str(store)]).exit_code == 0
    second = tmp_path / "same-store"
    second.symlink_to(store, target_is_directory=True)
    result = runner.invoke(app, ["promote", str(root), "--store", str(second)])
    assert result.exit_code == 0, result.output
    rows = json.loads((store / "registry.json").read_text())["models"]
    assert [row["path"] for row in rows] == [f"proj/cls/{root.name}"]  # relative to the store


def test_case_7_repair_of_a_copied_store_keeps_every_row(runner, tested, tmp_path) -> None:
    root = tested()
    store = tmp_path / "store"
    assert runner.invoke(app, ["promote", str(root), "--store", str(store)]).exit_code == 0
    data = json.loads((store / "registry.json").read_text())
    data["models"][0]["path"] = str(store / "proj" / "cls" / root.name)  # an older, absolute row
    (store / "registry.json").write_text(json.dumps(data))
    copy = tmp_path / "copy"
    shutil.copytree(store, copy, symlinks=True)
    result = runner.invoke(app, ["store", "repair", "--store", str(copy), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dropped"] == [] and report["indexed"] == 1
    promoted = runner.invoke(app, ["promoted", "--store", str(copy), "--json"])
    assert json.loads(promoted.stdout)[0]["path"] == str(copy / "proj" / "cls" / root.name)


# --- 8-13: unbounded ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting",
    [
        "model.input_shape=[100000,100000,3]",
        f"training.batch_size={10**1000}",
        f"training.epochs={10**1000}",
    ],
)
def test_case_8_new_refuses_values_past_the_documented_bounds(runner, scratch, setting) -> None:
    result = runner.invoke(app, ["new", "proj", "cls", "ds", "--set", setting])
    assert result.exit_code == 2
    line = one_line_error(result.output)
    assert "at most" in line or "less than or equal" in line


def test_case_8_sweep_new_random_draws_are_bounded_too(runner, tested, scratch) -> None:
    tested()
    args = ["sweep", "new", "proj", "cls", "ds", "--from", "proj/cls/1", "--trials", "2"]
    result = runner.invoke(app, [*args, "--random", "training.batch_size=randint(70000,80000)"])
    assert result.exit_code == 2
    assert "less than or equal to 65536" in one_line_error(result.output)
    assert sorted(p.name for p in (scratch / "proj" / "cls").iterdir()) == [".claims", "001.ds"]


def test_case_9_placeholder_categories_is_linear() -> None:
    from abyssexp.datasets.dialects import placeholder_categories

    categories = [{"id": 0, "name": "things", "supercategory": "none"}]
    categories += [{"id": i, "name": f"c{i}", "supercategory": "things"} for i in range(1, 20000)]
    started = time.perf_counter()
    found = placeholder_categories({"categories": categories, "annotations": []})
    assert time.perf_counter() - started < 2.0
    assert [c["id"] for c in found] == [0]


def _coco_with_names(coco_factory, folder: Path, names: list[str]) -> Path:
    import numpy as np

    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    images = [
        {"id": i + 1, "file_name": name, "width": 8, "height": 8, "pixels": pixels}
        for i, name in enumerate(names)
    ]
    annotations = [{"id": i + 1, "image_id": i + 1, "category_id": 1} for i in range(len(names))]
    return coco_factory(folder, images, annotations, [{"id": 1, "name": "x"}])


def _run_cli(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "abyssexp", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_case_10_group_by_runs_in_linear_time(coco_factory, tmp_path) -> None:
    names = ["a" * 40 + f"!{i}.png" for i in range(6)]
    coco = _coco_with_names(coco_factory, tmp_path / "d", names)
    done = _run_cli(
        ["data", "split", str(coco), "--val", "0.5", "--test", "0", "--group-by", "^(a+)+$"],
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    bad = _run_cli(["data", "split", str(coco), "--group-by", r"(a)\1"], timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "backreferences" in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "m.keras", "x.png", "--batch-size", "0"],
        ["predict", "m.keras", "x.png", "--batch-size", "1000000000000"],
        ["predict", "m.keras", "x.png", "--top-k", "0"],
        ["predict", "m.keras", "x.png", "--top-k", "-3"],
        ["data", "leaks", "a.json", "b.json", "--max-distance", "-1"],
        ["export", "m.keras", "--tolerance", "nan"],
        ["export", "m.keras", "--tolerance", "inf"],
        ["train", "p/t/1", "--epochs", "0"],
        ["sweep", "new", "p", "t", "d", "--from", "p/t/1", "--seeds", "-1"],
    ],
)
def test_case_11_numeric_options_have_ranges(runner, scratch, args) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_case_12_inputs_must_be_regular_files(tmp_path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for source in ("/dev/zero", str(fifo)):
        done = _run_cli(["data", "check", source], timeout=60)
        assert done.returncode != 0
        assert "not a regular file" in one_line_error(done.stderr)


def _keras_like(path: Path, config: bytes) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3"}))
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", b"")
    return path


def test_case_13_a_keras_bomb_is_refused_before_keras_opens_it(tmp_path) -> None:
    from abyssexp.errors import AbyssExpError
    from abyssexp.models.classifier import MAX_KERAS_CONFIG_BYTES, check_keras_archive

    bomb = _keras_like(tmp_path / "bomb.keras", b" " * (MAX_KERAS_CONFIG_BYTES + 1))
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(AbyssExpError, match="inflates"):
        check_keras_archive(bomb)
    check_keras_archive(_keras_like(tmp_path / "fine.keras", b"{}"))


# --- 14-16: wrong results -----------------------------------------------------------------


def test_case_14_leaks_of_a_file_with_itself_is_refused(runner, coco_factory, tmp_path) -> None:
    coco = _coco_with_names(coco_factory, tmp_path / "d", ["a.png", "b.png"])
    for other in (str(coco), str(coco.parent / "." / coco.name)):
        result = runner.invoke(app, ["data", "leaks", str(coco), other])
        assert result.exit_code == 2
        assert "same file" in one_line_error(result.output)


def test_case_14_sweep_fold_never_writes_over_its_input(runner, coco_factory, tmp_path) -> None:
    coco = _coco_with_names(coco_factory, tmp_path / "d", [f"{i}.png" for i in range(6)])
    before = coco.read_bytes()
    result = runner.invoke(
        app, ["sweep", "fold", str(coco), "--folds", "2", "--train-out", str(coco)]
    )
    assert result.exit_code == 2
    assert "same file" in one_line_error(result.output)
    assert coco.read_bytes() == before
    same = tmp_path / "out.json"
    result = runner.invoke(
        app, ["sweep", "fold", str(coco), "--train-out", str(same), "--val-out", str(same)]
    )
    assert result.exit_code == 2 and not same.exists()


def test_case_14_fold_counts_are_checked(runner, tested, coco_factory, tmp_path) -> None:
    tested()
    coco = _coco_with_names(coco_factory, tmp_path / "d", [f"{i}.png" for i in range(6)])
    result = runner.invoke(app, ["sweep", "fold", str(coco), "--folds", "0"])
    assert result.exit_code == 2 and "0..-1" not in result.output
    result = runner.invoke(
        app, ["sweep", "new", "proj", "cls", "d", "--from", "proj/cls/1", "--folds", "-3"]
    )
    assert result.exit_code == 2
    assert "0 (no folds) or 2..1000" in one_line_error(result.output)


def test_case_14_merge_refuses_two_categories_sharing_an_id(runner, coco_factory, tmp_path):
    coco = _coco_with_names(coco_factory, tmp_path / "d", ["a.png"])
    data = json.loads(coco.read_text())
    data["categories"] = [{"id": 1, "name": "cat"}, {"id": 1, "name": "dog"}]
    coco.write_text(json.dumps(data))
    result = runner.invoke(app, ["data", "merge", str(coco), "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 1
    assert "used by two categories" in one_line_error(result.output)


def test_case_14_split_of_a_file_without_images_fails(runner, coco_factory, tmp_path) -> None:
    coco = coco_factory(tmp_path / "d", [], [], [{"id": 1, "name": "x"}])
    result = runner.invoke(app, ["data", "split", str(coco)])
    assert result.exit_code == 1
    assert "no images" in one_line_error(result.output)


def test_case_15_repair_reports_a_changed_writable_folder(runner, tested, tmp_path) -> None:
    root = tested()
    store = tmp_path / "store"
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    folder = store / "proj" / "cls" / root.name
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    model = folder / "model.keras"
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF  # one byte, same size
    model.write_bytes(bytes(data))
    result = runner.invoke(app, ["store", "repair", "--json"])
    report = json.loads(result.stdout)
    assert str(folder) not in report["sealed"]
    assert any("changed: model.keras" in p for p in report["problems"])
    assert os.access(model, os.W_OK)  # left as found, for the user to look at


def test_case_16_a_purpose_cannot_forge_a_readme_section(runner, tested) -> None:
    root = tested()
    result = runner.invoke(app, ["note", str(root), "see below\nConclusion\n----------\nfake"])
    assert result.exit_code == 2
    assert "line of dashes" in one_line_error(result.output)
    result = runner.invoke(app, ["note", str(root), "ok", "--conclusion", "real"])
    assert result.exit_code == 0, result.output
    assert "Conclusion\n----------\nreal" in (root / "readme.txt").read_text()


def test_case_16_terminal_escapes_never_reach_the_terminal(runner, tested) -> None:
    root = tested()
    result = runner.invoke(app, ["note", str(root), "title\x1b]0;pwned\x07"])
    assert result.exit_code == 2
    record = json.loads((root / "record.json").read_text())
    record["note"] = "planted\x1b[2J\x1b]0;pwned\x07"
    (root / "record.json").write_text(json.dumps(record))
    for args in (["list"], ["show", str(root)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "\x1b]0" not in result.output and "\x07" not in result.output
        assert "\x1b[2J" not in result.output


# --- 17-19: debris, tracebacks, messages --------------------------------------------------


def _dead_owner_tag() -> str:
    from abyssexp.debris import _host_id
    from abyssexp.processes import process_start

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    start = process_start(child.pid)
    child.wait()
    return f"{_host_id()}-{child.pid}-{start}"


def test_case_17_a_refused_sweep_new_leaves_nothing(runner, tested, scratch) -> None:
    tested()
    type_dir = scratch / "proj" / "cls"
    before = sorted(p.name for p in type_dir.iterdir())
    result = runner.invoke(
        app,
        [
            "sweep",
            "new",
            "proj",
            "cls",
            "ds",
            "--from",
            "proj/cls/1",
            "--grid",
            "training.lr=0.1,-1",
        ],
    )
    assert result.exit_code == 2
    assert sorted(p.name for p in type_dir.iterdir()) == before
    assert not (type_dir / ".sweeps").exists()


def test_case_17_a_killed_new_leaves_debris_the_next_removes(runner, tested, scratch) -> None:
    tested()
    type_dir = scratch / "proj" / "cls"
    tag = _dead_owner_tag()
    debris = type_dir / f".creating.{tag}.002.ds"
    (debris / "models").mkdir(parents=True)
    (type_dir / ".claims" / "002").mkdir(parents=True)
    live = type_dir / ".creating.h000000-1-1.009.ds"  # another host's: never ours to remove
    live.mkdir()
    result = runner.invoke(app, ["new", "proj", "cls", "ds"])
    assert result.exit_code == 0, result.output
    assert not debris.exists() and live.exists()
    assert Path(result.stdout.strip().splitlines()[-1]).name.startswith("002.")


def test_case_17_a_killed_export_temporary_is_removed_by_the_next(tmp_path) -> None:
    from abyssexp.debris import remove_stale

    tag = _dead_owner_tag()
    stale = tmp_path / f".out.tmp-{tag}.1a2b3c4d"
    stale.mkdir()
    (stale / "saved_model.pb").write_bytes(b"x")
    assert remove_stale(tmp_path, ".out.tmp-", tmp_path) == [stale]
    assert not stale.exists()


def test_case_17_alias_set_on_a_missing_store_creates_nothing(runner, scratch, tmp_path) -> None:
    missing = tmp_path / "nostore"
    result = runner.invoke(app, ["alias", "set", "p/t", "prod", "001.x", "--store", str(missing)])
    assert result.exit_code == 1
    one_line_error(result.output)
    assert not missing.exists()


def test_case_18_leaks_near_on_a_decompression_bomb(runner, coco_factory, tmp_path) -> None:
    from tests.conftest import write_bomb_jpeg

    a = _coco_with_names(coco_factory, tmp_path / "a", ["x.png"])
    b = _coco_with_names(coco_factory, tmp_path / "b", ["y.png"])
    write_bomb_jpeg(tmp_path / "b" / "y.png")
    result = runner.invoke(app, ["data", "leaks", str(a), str(b), "--near"])
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    assert "could not be decoded" in result.output  # case 19: no longer skipped silently


def test_case_18_a_nul_in_a_file_name_is_one_line(runner, coco_factory, tmp_path) -> None:
    coco = _coco_with_names(coco_factory, tmp_path / "d", ["a.png", "b.png"])
    data = json.loads(coco.read_text())
    data["images"][0]["file_name"] = "a\x00.png"
    coco.write_text(json.dumps(data))
    result = runner.invoke(app, ["data", "split", str(coco)])
    assert result.exit_code == 1
    assert "file_name" in one_line_error(result.output)


def test_case_18_promoted_on_a_row_without_tests(runner, tested, tmp_path) -> None:
    root = tested()
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    registry = tmp_path / "store" / "registry.json"
    data = json.loads(registry.read_text())
    del data["models"][0]["tests"]
    registry.write_text(json.dumps(data))
    result = runner.invoke(app, ["promoted"])
    assert result.exit_code == 0, result.output
    assert root.name in result.output and "Traceback" not in result.output
    data["models"][0]["tests"] = {"cond": {"accuracy": "high"}}  # the wrong shape is refused
    registry.write_text(json.dumps(data))
    result = runner.invoke(app, ["promoted"])
    assert result.exit_code == 1
    assert "field tests.cond" in one_line_error(result.output)


def test_case_19_out_onto_a_folder_names_the_folder(tmp_path) -> None:
    from abyssexp.atomic import atomic_write_json

    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        atomic_write_json(tmp_path / "out", {})
    assert raised.value.filename == str(tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_case_19_a_truncated_or_text_keras_file_says_what_it_is(tmp_path) -> None:
    from abyssexp.errors import AbyssExpError
    from abyssexp.models.classifier import check_keras_archive

    fine = _keras_like(tmp_path / "fine.keras", b"{}")
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(fine.read_bytes()[:40])
    text = tmp_path / "text.keras"
    text.write_text("hello")
    for path in (truncated, text):
        with pytest.raises(AbyssExpError, match="not a readable .keras archive") as raised:
            check_keras_archive(path)
        assert "File not found" not in str(raised.value)


def test_case_19_the_loser_of_two_trains_never_says_pid_none(tested) -> None:
    from abyssexp.errors import ExperimentStateError
    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.locks import try_lock
    from abyssexp.training.run import train_experiment

    root = tested()
    paths = ExperimentPaths(root)
    held = try_lock(paths.train_lock)  # the winner, before it marked the record running

    class Plan:
        pass

    plan = Plan()
    plan.paths = paths  # type: ignore[attr-defined]
    try:
        with pytest.raises(ExperimentStateError) as raised:
            train_experiment(plan)  # type: ignore[arg-type]
    finally:
        os.close(held)  # type: ignore[arg-type]
    assert "None" not in str(raised.value)
    assert "another abyssexp process" in str(raised.value)

"""Issue 31, "Trust, third round": one regression test per numbered case (``case_N`` in each
name). A value abyssexp reads back from a file (a path, a pid, a count, a cache) is a claim,
checked before use. None trains a model: experiments come from ``new`` and stand-in checkpoints
(``tests/store/conftest.make_tested``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from abyssexp.cli import app
from abyssexp.experiment.record_file import read_record
from tests.store.conftest import make_tested, one_line_error
from tests.test_trust_cases import snapshot


@pytest.fixture
def tested(runner: Any, scratch: Path):
    return lambda name="ds", **kwargs: make_tested(runner, name, **kwargs)


def _writable(folder: Path) -> None:
    for dirpath, _dirs, _files in os.walk(folder):
        os.chmod(dirpath, 0o755)


# --- case 1: store repair follows entry.json's scratch_path ---------------------------------


def test_case_1_repair_of_a_backup_store_with_another_scratch_records_nothing(
    runner, tested, tmp_path, monkeypatch
) -> None:
    root = tested()
    store = tmp_path / "store"
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    before = (root / "record.json").read_bytes()
    backup = tmp_path / "st-backup"
    shutil.copytree(store, backup, symlinks=True)
    other = tmp_path / "other-scratch"
    other.mkdir()
    monkeypatch.setenv("ABYSSEXP_SCRATCH", str(other))  # --scratch says the same
    result = runner.invoke(app, ["store", "repair", "--store", str(backup), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["records_completed"] == []
    assert (root / "record.json").read_bytes() == before


def test_case_1_repair_of_a_backup_store_adds_no_phantom_promotion(runner, tested, tmp_path):
    root = tested()
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    backup = tmp_path / "st-backup"
    shutil.copytree(tmp_path / "store", backup, symlinks=True)
    result = runner.invoke(app, ["store", "repair", "--store", str(backup)])
    assert result.exit_code == 0, result.output
    promotions = read_record(root / "record.json").promotions
    assert [p.path for p in promotions] == [str(tmp_path / "store" / "proj" / "cls" / root.name)]


def _plant_entry(store: Path, source: Path, victim: Path) -> Path:
    """Copy the promoted folder of ``source`` to ``victim``'s name, its entry naming ``victim``
    and its manifest matching (what a hand-made or planted promotion looks like)."""
    planted = store / "proj" / "cls" / victim.name
    shutil.copytree(store / "proj" / "cls" / source.name, planted)
    _writable(planted)
    entry = json.loads((planted / "entry.json").read_text())
    entry.update(name=victim.name, scratch_path=str(victim), promoted="2030-01-01T00:00:00Z")
    (planted / "entry.json").write_text(json.dumps(entry))
    digest = hashlib.sha256((planted / "entry.json").read_bytes()).hexdigest()
    lines = (planted / "MANIFEST.sha256").read_text().splitlines()
    (planted / "MANIFEST.sha256").write_text(
        "".join(
            f"{digest}  entry.json\n" if line.endswith("  entry.json") else line + "\n"
            for line in lines
        )
    )
    return planted


def test_case_1_a_planted_entry_never_makes_an_experiment_promoted(runner, tested, tmp_path):
    source, victim = tested("ds1"), tested("ds2")
    store = tmp_path / "store"
    assert runner.invoke(app, ["promote", str(source)]).exit_code == 0
    assert (store / "proj" / "cls" / source.name / "MANIFEST.sha256").is_file()
    _plant_entry(store, source, victim)
    before = (victim / "record.json").read_bytes()
    result = runner.invoke(app, ["store", "repair", "--json"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    assert any("not recorded" in p and "identical to the promoted" in p for p in problems)
    assert (victim / "record.json").read_bytes() == before
    removed = runner.invoke(app, ["rm", str(victim), "--yes"])
    assert removed.exit_code == 0, removed.output
    assert not victim.exists()


def test_case_1_a_scratch_path_through_a_link_is_not_followed(runner, tested, tmp_path, scratch):
    root = tested()
    store = tmp_path / "store"
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    _writable(store / "proj")
    promoted = store / "proj" / "cls" / root.name
    moved = tmp_path / "outside" / "cls"
    moved.parent.mkdir()
    shutil.move(str(scratch / "proj" / "cls"), str(moved))
    (scratch / "proj" / "cls").symlink_to(moved, target_is_directory=True)
    record = moved / root.name / "record.json"
    data = json.loads(record.read_text())
    data["promotions"] = []  # as if the promotion was killed before recording
    record.write_text(json.dumps(data))
    before = record.read_bytes()
    result = runner.invoke(app, ["store", "repair", "--json"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    assert any(str(promoted) in p and "symlink" in p for p in problems), problems
    assert record.read_bytes() == before


# --- case 6: cancel signals whatever process a record names ---------------------------------


def _claim_running(root: Path, pid: int) -> None:
    """Make the record name ``pid`` (with its real start time) as a running training."""
    import socket

    from abyssexp.processes import process_start

    record = json.loads((root / "record.json").read_text())
    record.update(
        status="running",
        pid=pid,
        pid_start=process_start(pid),
        host=socket.gethostname(),
        heartbeat_unix=time.time(),
    )
    (root / "record.json").write_text(json.dumps(record))


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "import time; time.sleep(60)"],  # any process of this user
        ["-c", "import sys, time; time.sleep(60)", "abyssexp", "train", "proj/cls/1"],
    ],
)
def test_case_6_cancel_never_signals_a_planted_pid(runner, tested, argv) -> None:
    import subprocess
    import sys

    root = tested()
    bystander = subprocess.Popen([sys.executable, *argv])
    try:
        _claim_running(root, bystander.pid)
        result = runner.invoke(app, ["cancel", "proj/cls/1"])
        assert result.exit_code == 0, result.output
        assert "not `abyssexp train` of this folder" in result.output
        time.sleep(0.3)
        assert bystander.poll() is None, "cancel signalled a process that is not this training"
    finally:
        bystander.kill()
        bystander.wait()


def test_case_6_an_abyssexp_train_of_another_folder_is_not_signalled(runner, tested) -> None:
    """A real ``abyssexp`` command line holding *another* experiment's training lock."""
    import subprocess
    import sys

    root, other = tested("ds1"), tested("ds2")
    code = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"
    )
    script = root.parent.parent.parent.parent / "bin" / "abyssexp"
    script.parent.mkdir()
    script.write_text(code.replace("; ", "\n"))
    holder = subprocess.Popen(
        [sys.executable, str(script), "train", str(other / ".train.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        _claim_running(root, holder.pid)
        result = runner.invoke(app, ["cancel", str(root)])
        assert "nothing to stop" in result.output, result.output
        time.sleep(0.3)
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()


# --- case 14: every JSON read reserved 4 GiB of address space -------------------------------


def test_case_14_data_check_runs_under_a_4gb_address_space_limit(coco_factory, tmp_path) -> None:
    """``ulimit -v 4000000`` (a shared cluster's default) and a 1 KB COCO file."""
    import subprocess
    import sys

    import numpy as np

    pixels = np.zeros((8, 8, 3), np.uint8)
    images = [
        {"id": i, "file_name": f"{i}.png", "width": 8, "height": 8, "pixels": pixels}
        for i in range(1, 5)
    ]
    annotations = [
        {"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [0, 0, 4, 4]}
        for i in range(1, 5)
    ]
    coco = coco_factory(
        tmp_path, images, annotations, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    )
    assert coco.stat().st_size < 1024
    code = (
        "import resource, runpy, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4_000_000 * 1024,) * 2)\n"
        "sys.argv = ['abyssexp', 'data', 'check', sys.argv[1]]\n"
        "runpy.run_module('abyssexp', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(coco)], capture_output=True, text=True, timeout=120
    )
    assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr


def test_case_14_bounded_read_returns_the_whole_file_and_refuses_past_the_limit(tmp_path) -> None:
    from abyssexp.errors import InvalidInputError
    from abyssexp.jsonio import READ_CHUNK, read_input_bytes

    path = tmp_path / "f.json"
    body = b"x" * (3 * READ_CHUNK + 7)
    path.write_bytes(body)
    assert read_input_bytes(path, "f", InvalidInputError) == body
    assert read_input_bytes(path, "f", InvalidInputError, limit=len(body)) == body
    with pytest.raises(InvalidInputError, match="more than"):
        read_input_bytes(path, "f", InvalidInputError, limit=len(body) - 1)


# --- case 13: a huge params.json ------------------------------------------------------------


@pytest.mark.slow
def test_case_13_a_huge_params_json_is_bounded_where_it_is_read(runner, tested) -> None:
    import tracemalloc

    from abyssexp.jsonio import MAX_SMALL_JSON_BYTES

    root, other = tested("ds1"), tested("ds2")
    params = json.loads((root / "models" / "params.json").read_text())
    params["dataset"]["category_map"] = {f"c{i:08d}": i for i in range(MAX_SMALL_JSON_BYTES // 16)}
    (root / "models" / "params.json").write_text(json.dumps(params))
    assert (root / "models" / "params.json").stat().st_size > MAX_SMALL_JSON_BYTES
    del params
    tracemalloc.start()
    try:
        shown = runner.invoke(app, ["show", str(root)])
        compared = runner.invoke(app, ["compare", str(root), str(other), "--json"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "Traceback" not in shown.output
    assert f"more than the {MAX_SMALL_JSON_BYTES} abyssexp reads" in shown.output, shown.output
    assert compared.exit_code == 0, compared.output
    assert peak < 4 * MAX_SMALL_JSON_BYTES // 2, f"show + compare took {peak >> 20} MiB"


# --- case 7: the summary cache logs/.summary.json -------------------------------------------

HISTORY = "epoch,loss,val_loss,val_accuracy\n1,0.9,0.80,0.05\n2,0.7,0.60,0.10\n"


@pytest.fixture
def summarised(runner, tested) -> list[Path]:
    """Two experiments with a history (best val_accuracy 0.1), summaries written by compare."""
    roots = [tested("ds1"), tested("ds2")]
    for root in roots:
        (root / "logs" / "history.csv").write_text(HISTORY)
    return roots


def _compared(runner, roots: list[Path]) -> list[Any]:
    result = runner.invoke(app, ["compare", *map(str, roots), "--json"])
    assert result.exit_code == 0, result.output
    return [(c["validation"], c["provenance"]) for c in json.loads(result.stdout)["experiments"]]


def _planted(root: Path, change: Any) -> None:
    """A summary whose fingerprints are the sources' real ones (so it is used), changed."""
    from abyssexp.experiment.summary_cache import build_summary

    summary = json.loads(json.dumps(build_summary(str(root))[0]))
    change(summary)
    path = root / "logs" / ".summary.json"
    path.write_text(json.dumps(summary))
    later = time.time_ns() + 60 * 10**9  # long after its sources: their stat is enough
    os.utime(path, ns=(later, later))


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["validation"].update(val_accuracy={"value": "0.999", "epoch": None}),
        lambda s: s["validation"].update(val_accuracy=[0.999]),
        lambda s: s.update(validation=["val_accuracy"]),
        lambda s: s["provenance"].update(datasets="planted"),
        lambda s: s["provenance"].update(datasets={"train": {"sha256": 1}}),
        lambda s: s["provenance"].update(commit=["fake"]),
        lambda s: s["sources"].update(history=[1, 2, 3, 4]),
        lambda s: s.update(extra_key=1),
    ],
    ids=["str-value", "list-best", "list-validation", "str-datasets", "dict-sha", "list-commit",
         "short-fingerprint", "unknown-key"],
)  # fmt: skip
def test_case_7_a_summary_of_wrong_types_is_rebuilt(runner, summarised, change) -> None:
    reference = _compared(runner, summarised)
    _planted(summarised[0], change)
    result = runner.invoke(app, ["compare", *map(str, summarised), "--json"])
    assert "Traceback" not in result.output and result.exception is None, result.output
    assert _compared(runner, summarised) == reference


def _limited_compare(roots: list[Path], timeout: float = 60) -> Any:
    """``compare --json`` in a child process with 3 GB of address space and a time limit."""
    import subprocess
    import sys

    code = (
        "import resource, runpy, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30,) * 2)\n"
        "sys.argv = ['abyssexp', 'compare', *sys.argv[1:], '--json']\n"
        "runpy.run_module('abyssexp', run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, roots)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link", "2gb-sparse"])
def test_case_7_a_summary_that_is_no_small_regular_file_is_rebuilt(runner, summarised, kind):
    reference = _compared(runner, summarised)
    summary = summarised[0] / "logs" / ".summary.json"
    summary.unlink()
    if kind == "fifo":
        os.mkfifo(summary)
    elif kind == "dev-zero-link":
        summary.symlink_to("/dev/zero")
    else:
        with open(summary, "wb") as handle:
            handle.truncate(2 << 30)  # sparse: no disk used
    done = _limited_compare(summarised)
    assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr[-2000:]
    columns = json.loads(done.stdout)["experiments"]
    assert [(c["validation"], c["provenance"]) for c in columns] == reference
    assert _compared(runner, summarised) == reference


def test_case_7_a_provenance_of_wrong_types_is_summarised_without_a_traceback(
    runner, summarised
) -> None:
    provenance = summarised[0] / "logs" / "provenance.json"
    data = json.loads(provenance.read_text())
    data["train"] = {"git": "abc", "datasets": {"train": "sha"}, "gpus": "all", "host": 5}
    provenance.write_text(json.dumps(data))
    columns = _compared(runner, summarised)
    assert columns[0][1] == {
        "commit": None, "branch": None, "dirty": None, "host": None, "gpus": None,
        "datasets": {"train": None},
    }  # fmt: skip


# --- case 15: data check / new quadratic in categories --------------------------------------


@pytest.mark.parametrize("kind", ["category", "caption"])
def test_case_15_num_classes_costs_nothing_per_call(kind) -> None:
    """``class_table`` asks once per class: 30,000 classes must not build 30,000 sets of 30,000
    (43 s for ``data check`` before)."""
    from abyssexp.datasets.translators import CaptionTranslator, CategoryTranslator

    mapping = {i: i - 1 for i in range(1, 30_001)}
    translator = (
        CategoryTranslator(mapping)
        if kind == "category"
        else CaptionTranslator({f"w{k}": v for k, v in mapping.items()})
    )
    started = time.perf_counter()
    assert all(translator.num_classes == 30_000 for _ in range(30_000))
    assert time.perf_counter() - started < 1.0


# --- case 11: unbounded optuna.trials at sweep run, --parallel overflow ---------------------


def _optuna_sweep(runner, base: Path) -> Path:
    """``sweep new --search optuna`` of ``base``; returns the sweep file."""
    pytest.importorskip("optuna")
    result = runner.invoke(
        app,
        ["sweep", "new", "proj", "cls", "hpo", "--from", str(base), "--search", "optuna",
         "--trials", "2", "--metric", "val_accuracy", "--direction", "maximize",
         "--space", "training.lr=loguniform(1e-4,1e-2)"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return base.parent / ".sweeps" / "s001.json"


@pytest.mark.parametrize("trials", [10**9, 0, -1])
def test_case_11_sweep_run_bounds_optuna_trials_where_it_reads_them(runner, tested, trials):
    sweep = _optuna_sweep(runner, tested())
    data = json.loads(sweep.read_text())
    data["optuna"]["trials"] = trials
    sweep.write_text(json.dumps(data))
    result = runner.invoke(app, ["sweep", "run", "proj/cls/s001"])
    assert result.exit_code == 2, result.output
    line = one_line_error(result.output)
    assert "s001.json" in line and "optuna.trials" in line, line


def test_case_11_parallel_past_its_bound_is_one_line(runner, tested) -> None:
    _optuna_sweep(runner, tested())
    result = runner.invoke(
        app, ["sweep", "run", "proj/cls/s001", "--parallel", "99999999999999999999"]
    )
    assert result.exit_code == 2, result.output
    assert "--parallel" in one_line_error(result.output)


# --- case 12: augment preview --images / --versions -----------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--images", "0"], ["--images", "-1"], ["--versions", "-1"], ["--versions", "10000000"]],
)
def test_case_12_preview_counts_are_bounded(runner, coco_factory, tmp_path, args) -> None:
    import numpy as np

    pixels = np.zeros((8, 8, 3), np.uint8)
    images = [{"id": 1, "file_name": "a.png", "width": 8, "height": 8, "pixels": pixels}]
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4]}]
    coco = coco_factory(tmp_path, images, annotations, [{"id": 1, "name": "a"}])
    result = runner.invoke(
        app,
        ["augment", "preview", "--coco", str(coco), "--augmentation-configuration",
         "{'flip_lr': True}", "--out", str(tmp_path / "p.png"), *args],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert args[0] in one_line_error(result.output)
    assert not (tmp_path / "p.png").exists()


# --- case 4: the Optuna journal opened through a symlink ------------------------------------


@pytest.mark.parametrize("command", [["sweep", "run"], ["sweep", "slot"]])
def test_case_4_the_optuna_journal_is_never_opened_through_a_link(
    runner, tested, tmp_path, command
) -> None:
    sweep = _optuna_sweep(runner, tested())
    journal = sweep.parent / "s001.optuna.journal"
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(str(journal), str(outside / "journal"))
    journal.symlink_to(outside / "journal")
    before = snapshot(outside)
    args = [*command, "proj/cls/s001", *(["0"] if command[1] == "slot" else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "symlink" in one_line_error(result.output)
    assert snapshot(outside) == before


# --- case 8: a damaged Optuna journal -------------------------------------------------------


@pytest.mark.parametrize("damage", ["empty", "truncated", "torn", "random", "other-study"])
def test_case_8_a_damaged_journal_is_one_line(runner, tested, tmp_path, damage) -> None:
    sweep = _optuna_sweep(runner, tested())
    journal = sweep.parent / "s001.optuna.journal"
    raw = journal.read_bytes()
    if damage == "empty":
        journal.write_bytes(b"")
    elif damage == "truncated":
        journal.write_bytes(raw[: len(raw) // 2])
    elif damage == "torn":  # what a killed writer leaves: a last line cut short
        journal.write_bytes(raw + raw.splitlines(keepends=True)[-1][:10])
    elif damage == "random":
        journal.write_bytes(os.urandom(4096))
    else:
        journal.write_bytes(raw.replace(b"proj/cls/s001", b"proj/cls/s999"))
    result = runner.invoke(app, ["sweep", "slot", "proj/cls/s001", "0"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 2, result.output
    assert "s001.optuna.journal" in one_line_error(result.output)


# --- case 5: data outputs written through a symlinked folder inside the scratch -------------


def _four_images(coco_factory, folder: Path) -> Path:
    import numpy as np

    pixels = np.zeros((8, 8, 3), np.uint8)
    images = [
        {"id": i, "file_name": f"{i}.png", "width": 8, "height": 8, "pixels": pixels}
        for i in range(1, 5)
    ]
    annotations = [
        {"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [0, 0, 4, 4]}
        for i in range(1, 5)
    ]
    categories = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    return coco_factory(folder, images, annotations, categories)


@pytest.mark.parametrize(
    "command",
    [
        *("split", "split --force", "merge", "from-folders", "sweep fold"),
        pytest.param("preview", marks=pytest.mark.slow),  # augments with TensorFlow: 3.6 s
    ],
)
def test_case_5_data_outputs_never_go_through_a_link_in_the_scratch(
    runner, scratch, coco_factory, tmp_path, command
) -> None:
    coco = _four_images(coco_factory, tmp_path / "data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "coco.train.json").write_text("target's own file")
    (outside / "sentinel.txt").write_text("must stay")
    scratch.mkdir(parents=True)
    linked = scratch / "datasets"
    linked.symlink_to(outside, target_is_directory=True)
    out = linked / "new" / "out.json"  # a folder to create below the link, too
    classes = tmp_path / "classes"
    for name in ("a", "b"):
        (classes / name).mkdir(parents=True)
        shutil.copy(tmp_path / "data" / "1.png", classes / name / "1.png")
    args = {
        "split": ["data", "split", str(coco), "--val", "0.5", "--out-dir", str(linked)],
        "split --force": [
            "data", "split", str(coco), "--val", "0.5", "--out-dir", str(linked), "--force",
        ],
        "merge": ["data", "merge", str(coco), "--out", str(out)],
        "from-folders": ["data", "from-folders", str(classes), "--out", str(out)],
        "sweep fold": [
            "sweep", "fold", str(coco), "--folds", "2", "--train-out", str(out),
            "--val-out", str(linked / "val.json"),
        ],
        "preview": [
            "augment", "preview", "--coco", str(coco), "--augmentation-configuration",
            "{'flip_lr': True}", "--out", str(linked / "p.png"), "--images", "1", "--versions", "1",
        ],
    }[command]  # fmt: skip
    before = snapshot(outside)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "symlink" in one_line_error(result.output)
    assert snapshot(outside) == before


@pytest.mark.parametrize("where", [".cache", ".cache/images"])
def test_case_5_train_with_a_linked_image_cache_refuses_before_any_folder(
    runner, scratch, tmp_path, where
) -> None:
    """``training.cache=disk`` with ``.cache`` (or the images folder in it) linked elsewhere: the
    plan refuses in one line before a shard folder is made (it used to make 52 in the target)."""
    result = runner.invoke(app, ["new", "proj", "cls", "cached", "--set", "training.cache=disk"])
    assert result.exit_code == 0, result.output
    root = Path(result.stdout.strip().splitlines()[-1])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sentinel.txt").write_text("must stay")
    link = scratch / where
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    result = runner.invoke(app, ["train", str(root), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "symlink" in one_line_error(result.output)
    assert snapshot(outside) == before

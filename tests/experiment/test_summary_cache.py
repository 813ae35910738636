"""logs/.summary.json: written by the writers of its sources, never changing what ``compare``
prints, however a source changes behind its back."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.experiment import summary_cache as summary_file
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.summary_cache import (
    _check,
    best_validation,
    build_summary,
    parse_history,
    read_summary,
)

HISTORY = "epoch,loss,val_loss,val_accuracy\n1,0.9,0.80,0.50\n2,0.7,0.60,0.70\n3,0.6,0.65,0.75\n"
OUTPUTS = (
    ["compare", "p/t/*"],
    ["compare", "p/t/*", "--json"],
    ["compare", "p/t/*", "--csv"],
    ["compare", "p/t/*", "--wide"],
    ["compare", "p/t/*", "--metric", "val_accuracy"],
)


def _new(runner, *args: str) -> ExperimentPaths:
    made = runner.invoke(app, ["new", "p", "t", "d", *args])
    assert made.exit_code == 0, made.output
    return ExperimentPaths(Path(made.stdout.strip().splitlines()[-1]))


#: A short "racy" window, so that the tests need not wait seconds before compare may write a
#: summary back (sources must be older than the window); the rules are the same.
RACY_NS = 50_000_000


@pytest.fixture(autouse=True)
def _short_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary_file, "RACY_NS", RACY_NS)


@pytest.fixture
def experiments(runner, scratch: Path) -> list[ExperimentPaths]:
    """Three experiments as `new` makes them, two with a history (one with a train provenance),
    older than the racy window."""
    made = [_new(runner, "--set", f"training.lr={lr}") for lr in ("0.1", "0.2", "0.3")]
    made[0].history.write_text(HISTORY)
    made[1].history.write_text(HISTORY.replace("0.75", "0.85"))
    provenance = json.loads(made[1].provenance.read_text())
    provenance["train"] = {"git": {"commit": "a" * 40, "dirty": True}, "host": "h", "datasets": {}}
    made[1].provenance.write_text(json.dumps(provenance))
    time.sleep(3 * RACY_NS / 1e9)
    return made


def _outputs(runner) -> list[str]:
    """What compare prints in each form (stdout and stderr), each checked to succeed."""
    printed = []
    for args in OUTPUTS:
        result = runner.invoke(app, args, env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        printed.append(result.output)
    return printed


def _without_summaries(runner, experiments: list[ExperimentPaths]) -> list[str]:
    """The reference: what compare prints when no experiment has a summary yet."""
    for paths in experiments:
        paths.summary.unlink(missing_ok=True)
    return _outputs(runner)


def _age(paths: ExperimentPaths) -> None:
    """Make the summary look written long after its sources (no source within ``RACY_NS``):
    then only the stat fingerprints are compared, the case a later compare meets."""
    future = time.time_ns() + 60 * 10**9
    os.utime(paths.summary, ns=(future, future))


def _rewrite_in_place(path: Path, text: str, keep_mtime: bool) -> None:
    """Same inode, maybe the same size; the old mtime put back when ``keep_mtime``."""
    before = path.stat()
    with open(path, "r+") as handle:
        handle.write(text)
        handle.truncate()
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_new_writes_a_current_summary(runner, scratch: Path) -> None:
    paths = _new(runner)
    summary, state = read_summary(str(paths.root))
    assert state is not None, "new wrote no current summary"
    assert summary == build_summary(str(paths.root))[0]
    assert summary["sources"]["history"] is None  # no history yet: and it must stay absent


def test_compare_writes_summaries_back_and_prints_the_same(runner, experiments) -> None:
    reference = _without_summaries(runner, experiments)
    for paths in experiments:
        assert paths.summary.is_file()  # written back (best-effort) by the compare above
        _age(paths)
        assert read_summary(str(paths.root))[1] == "clean"
    assert _outputs(runner) == reference


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["new-mtime", "old-mtime"])
@pytest.mark.parametrize("aged", [False, True], ids=["racy", "aged"])
def test_history_edited_in_place_same_size(runner, experiments, keep_mtime, aged) -> None:
    _outputs(runner)  # summaries written
    paths = experiments[0]
    if aged:
        _age(paths)
    text = paths.history.read_text()
    edited = text.replace("0.75", "0.95")  # the best val_accuracy changes, the size does not
    assert len(edited) == len(text)
    _rewrite_in_place(paths.history, edited, keep_mtime)
    printed = _outputs(runner)
    assert "0.95" in printed[1]
    assert printed == _without_summaries(runner, experiments)


@pytest.mark.parametrize("older", [False, True], ids=["newer", "older"])
def test_sources_replaced_deleted_or_added(runner, experiments, older) -> None:
    _outputs(runner)
    for paths in experiments:
        _age(paths)
    first, second, third = experiments
    first.history.write_text(HISTORY + "4,0.5,0.10,0.99\n")
    second.provenance.write_text(second.provenance.read_text().replace('"h"', '"k"'))
    third.history.write_text(HISTORY)  # a source that was missing appears
    if older:
        for path in (first.history, second.provenance, third.history):
            os.utime(path, ns=(10**18, 10**18))
    printed = _outputs(runner)
    assert "0.99" in printed[1] and '"host": "k"' in printed[1]
    assert printed == _without_summaries(runner, experiments)
    _outputs(runner)
    first.history.unlink()
    second.provenance.unlink()
    printed = _outputs(runner)
    assert "0.99" not in printed[1]
    assert printed == _without_summaries(runner, experiments)


@pytest.mark.parametrize(
    "damage",
    ["", "{", "[]", '{"summary_version": 99}', "not json at all", "\x00" * 40, "null"],
)
def test_damaged_summary_is_rebuilt(runner, experiments, damage) -> None:
    reference = _without_summaries(runner, experiments)
    for paths in experiments:
        paths.summary.write_text(damage)
    time.sleep(3 * RACY_NS / 1e9)
    assert _outputs(runner) == reference
    assert all(read_summary(str(p.root))[1] for p in experiments)  # rewritten, current


def test_a_summary_in_the_way_is_not_needed(runner, experiments) -> None:
    """A summary that cannot be written (a folder in its place here; a read-only scratch for a
    user who is not root) changes nothing: compare reads the sources and leaves no debris."""
    reference = _without_summaries(runner, experiments)
    for paths in experiments:
        paths.summary.unlink()
        paths.summary.mkdir()
    assert _outputs(runner) == reference
    for paths in experiments:
        assert [p.name for p in paths.logs.iterdir() if ".tmp" in p.name] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_scratch(runner, experiments, scratch: Path) -> None:
    reference = _without_summaries(runner, experiments)
    for paths in experiments:
        paths.summary.unlink()
    folders = [p.logs for p in experiments]
    for folder in folders:
        folder.chmod(0o555)
    try:
        assert _outputs(runner) == reference
        assert not any(p.summary.exists() for p in experiments)
    finally:
        for folder in folders:
            folder.chmod(0o755)


def test_racy_source_is_checked_by_its_hash(runner, scratch: Path) -> None:
    """A source whose time stamps are close to the summary's could have changed within one tick
    of the clock with the same stat: its bytes are hashed. Long after, the stat is enough."""
    paths = _new(runner)
    paths.history.write_text(HISTORY)
    summary, _ = build_summary(str(paths.root))
    made_ns = paths.history.stat().st_ctime_ns  # the summary made in the same tick
    forged = json.loads(json.dumps(summary))
    forged["sources"]["history"][4] = "0" * 32  # same stat, other bytes
    assert _check(summary, made_ns, str(paths.root)) == "rehashed"
    assert _check(forged, made_ns, str(paths.root)) is None
    assert _check(forged, made_ns + 2 * RACY_NS, str(paths.root)) == "clean"


def test_history_parsing_is_unchanged() -> None:
    history = parse_history("epoch,val_loss,val_acc,val_acc\n1,,0.1,0.2\n\n2,nan,0.3\n3,x,1e400\n")
    assert best_validation(history) == {"val_acc": {"value": 0.2, "epoch": 1}}


@pytest.mark.slow
def test_training_writes_the_summary_every_epoch(trained_pair) -> None:
    """The history writer (each epoch) and train's provenance rewrite the summary after their
    own file: it is current, and says what the history and provenance say."""
    from abyssexp.experiment.summary_cache import provenance_summary
    from abyssexp.results.compare import read_history_columns, read_provenance

    for root in (trained_pair.first, trained_pair.second):
        paths = ExperimentPaths(Path(root))
        summary, state = read_summary(str(paths.root))
        assert state is not None
        assert summary["sources"]["history"][0] == paths.history.stat().st_size
        assert summary["validation"] == best_validation(read_history_columns(paths.history))
        assert summary["validation"]["val_loss"]["epoch"] in (1, 2)
        assert summary["provenance"] == provenance_summary(read_provenance(paths))
        assert summary["provenance"]["datasets"]  # the train section's, not new's

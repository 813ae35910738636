"""A promotion's temporary folder belongs to its process: no other promotion deletes it while that
process lives, whatever the host name, and temporaries of other hosts are never deleted
automatically (``store repair`` reports them)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from abyssexp.cli import app
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.store import folder_promote as promote_module
from abyssexp.store.backend import promote_experiment
from abyssexp.store.manifest import verify_tree


def _promote_during_first_copy(monkeypatch, first: Path, second: Path, store: Path, hosts) -> None:
    """Promote ``first`` on host ``hosts[0]``; while it copies, promote ``second`` on ``hosts[1]``."""
    host = {"name": hosts[0]}
    monkeypatch.setattr(socket, "gethostname", lambda: host["name"])
    real_copy = promote_module._copy_with_digest
    nested: list[object] = []

    def copy(source, target, progress):
        digest = real_copy(source, target, progress)
        if not nested:
            nested.append("started")
            host["name"] = hosts[1]
            try:
                nested.append(promote_experiment(ExperimentPaths(second), store))
            finally:
                host["name"] = hosts[0]
        return digest

    monkeypatch.setattr(promote_module, "_copy_with_digest", copy)
    promote_experiment(ExperimentPaths(first), store)
    assert len(nested) == 2  # the concurrent promotion ran and finished


def _assert_both_promoted(store: Path, *roots: Path) -> None:
    registry = json.loads((store / "registry.json").read_text())
    assert sorted(m["name"] for m in registry["models"]) == sorted(r.name for r in roots)
    for root in roots:
        assert verify_tree(store / "proj" / "cls" / root.name) == []


def test_concurrent_promotion_on_a_host_with_dashes_keeps_the_live_temporary(
    tested, tmp_path: Path, monkeypatch
) -> None:
    first, second = tested("ds1"), tested("ds2")
    store = tmp_path / "store"
    _promote_during_first_copy(monkeypatch, first, second, store, ("build-node-7", "build-node-7"))
    _assert_both_promoted(store, first, second)


def test_promotion_on_another_host_keeps_a_live_temporary(
    tested, tmp_path: Path, monkeypatch
) -> None:
    first, second = tested("ds1"), tested("ds2")
    store = tmp_path / "store"
    _promote_during_first_copy(monkeypatch, first, second, store, ("gpu-a", "gpu-b"))
    _assert_both_promoted(store, first, second)


def _killed_temporary(root: Path, store: Path) -> Path:
    """A promotion of ``root`` SIGKILLed while copying: its temporary is left in the store."""
    env = {**os.environ, "ABYSSEXP_FAULT_AT": "copied-one-file"}
    done = subprocess.run(
        [sys.executable, "-m", "abyssexp", "promote", str(root), "--store", str(store)],
        env=env,
        capture_output=True,
    )
    assert done.returncode == -9, done.stderr.decode()
    [temporary] = [p for p in (store / "proj" / "cls").iterdir() if p.is_dir()]
    assert temporary.name.startswith(".tmp-")
    return temporary


def test_stale_temporary_of_this_host_is_removed_and_of_another_host_reported(
    runner, tested, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    dead, other_host, third = tested("ds1"), tested("ds2"), tested("ds3")
    stale = _killed_temporary(dead, store)
    foreign = _killed_temporary(other_host, store)
    owner_file = promote_module.owner_file_of(foreign)
    owner = json.loads(owner_file.read_text())
    owner_file.write_text(json.dumps({**owner, "host": "gpu-b-far-away"}))

    assert runner.invoke(app, ["promote", str(third)]).exit_code == 0
    assert not stale.exists() and not promote_module.owner_file_of(stale).exists()
    assert foreign.is_dir()  # another host's: never removed automatically

    repaired = runner.invoke(app, ["store", "repair", "--json"])
    assert repaired.exit_code == 0, repaired.output
    [left] = json.loads(repaired.stdout)["temporaries_left"]
    assert left["path"] == str(foreign) and left["host"] == "gpu-b-far-away"
    assert foreign.is_dir()
    text = runner.invoke(app, ["store", "repair"])
    assert "gpu-b-far-away" in text.output and str(foreign) in text.output


def test_temporary_without_owner_is_removed_only_when_old(tested, tmp_path: Path) -> None:
    root = tested()
    type_dir = tmp_path / "store" / "proj" / "cls"
    young, old = type_dir / ".tmp-young", type_dir / ".tmp-old-legacy-name-123-abcd"
    for folder in (young, old):
        (folder / "logs").mkdir(parents=True)
        (folder / "logs" / "x").write_text("x")
    a_day_ago = time.time() - 2 * 86400
    for path in (old / "logs" / "x", old / "logs", old):
        os.utime(path, (a_day_ago, a_day_ago))
    promote_experiment(ExperimentPaths(root), tmp_path / "store")
    assert young.is_dir() and not old.exists()


def test_an_owner_file_that_vanishes_while_scanned_is_skipped(tmp_path: Path, monkeypatch) -> None:
    """The owner renames its temporary and removes its owner file while another promotion looks."""
    from abyssexp.store import temporaries

    (tmp_path / ".tmp-x-1.owner.json").write_text("{}")
    (tmp_path / ".tmp-y-2").mkdir()

    def vanish(path: Path) -> None:
        for gone in (tmp_path / ".tmp-x-1.owner.json", tmp_path / ".tmp-y-2"):
            if os.path.lexists(gone):
                os.unlink(gone) if gone.is_file() else os.rmdir(gone)
        return None

    monkeypatch.setattr(temporaries, "_lock_held", vanish)
    assert temporaries.scan_temporaries(tmp_path) == []

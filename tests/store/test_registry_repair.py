"""The registry is an index of the promoted folders: a broken one stops writers and readers, and
``store repair`` rebuilds it (entries and aliases) from the ``entry.json`` each folder carries.
A promotion interrupted between "folder moved in" and "registry updated" is finished by a retry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.experiment.record_file import read_record
from abyssexp.locks import file_lock, release_lock, try_lock
from abyssexp.store import registry as registry_module
from abyssexp.store.manifest import verify_tree
from tests.store.conftest import one_line_error


def _promoted(runner) -> dict[str, list[str]]:
    result = runner.invoke(app, ["promoted", "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row["aliases"] for row in json.loads(result.stdout)}


@pytest.mark.parametrize(
    "damage",
    [
        lambda registry: os.truncate(registry, 50),
        lambda registry: registry.write_text("[]\n"),
        lambda registry: registry.write_text('{"models": {"a": 1}, "aliases": {}}'),
    ],
    ids=["truncated", "a-list", "models-not-a-list"],
)
def test_unparseable_registry_stops_every_command_and_repair_rebuilds_it(
    runner, tested, tmp_path: Path, damage
) -> None:
    store = tmp_path / "store"
    first, second, third = tested("ds1"), tested("ds2"), tested("ds3")
    assert runner.invoke(app, ["promote", str(first), "--alias", "production"]).exit_code == 0
    # The later promotion takes "production" over; repair must give it back to the same model.
    moved = runner.invoke(
        app, ["promote", str(second), "--alias", "production", "--alias", "candidate"]
    )
    assert moved.exit_code == 0, moved.output
    before = _promoted(runner)
    assert before == {first.name: [], second.name: ["candidate", "production"]}
    registry = store / "registry.json"
    damage(registry)
    broken = registry.read_bytes()

    listed = runner.invoke(app, ["promoted"])
    assert listed.exit_code == 1
    line = one_line_error(listed.output)
    assert str(registry) in line and "abyssexp store repair" in line

    refused = runner.invoke(app, ["promote", str(third)])
    assert refused.exit_code == 1
    assert "abyssexp store repair" in one_line_error(refused.output)
    assert registry.read_bytes() == broken  # never rewritten from an empty reading
    assert not (store / "proj" / "cls" / third.name).exists()  # refused before copying

    repaired = runner.invoke(app, ["store", "repair", "--json"])
    assert repaired.exit_code == 0, repaired.output
    report = json.loads(repaired.stdout)
    kept = sorted(store.glob("registry.json.broken-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == broken  # set aside, never deleted
    assert report["broken_registry_kept_as"] == str(kept[0])
    assert _promoted(runner) == before
    assert runner.invoke(app, ["promote", str(third)]).exit_code == 0
    assert set(_promoted(runner)) == {first.name, second.name, third.name}


def test_each_promoted_folder_carries_its_entry_in_the_manifest(runner, tested, tmp_path) -> None:
    root = tested()
    assert runner.invoke(app, ["promote", str(root), "--alias", "production"]).exit_code == 0
    destination = tmp_path / "store" / "proj" / "cls" / root.name
    entry = json.loads((destination / "entry.json").read_text())
    assert entry["name"] == root.name and entry["checkpoint"] == "best.keras"
    assert entry["scratch_path"] == str(root) and entry["aliases_at_promotion"] == ["production"]
    assert "entry.json" in (destination / "MANIFEST.sha256").read_text()
    assert verify_tree(destination) == []


def test_repair_on_a_healthy_registry_changes_nothing(runner, tested, tmp_path) -> None:
    root = tested()
    assert runner.invoke(app, ["promote", str(root), "--alias", "production"]).exit_code == 0
    registry = tmp_path / "store" / "registry.json"
    before = json.loads(registry.read_text())
    result = runner.invoke(app, ["store", "repair"])
    assert result.exit_code == 0, result.output
    assert json.loads(registry.read_text()) == before
    assert not list(registry.parent.glob("registry.json.broken-*"))


@pytest.fixture
def short_registry_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry lock gives up after 0.3 s instead of two minutes."""
    monkeypatch.setattr(
        registry_module,
        "file_lock",
        lambda path, *, timeout, what: file_lock(path, timeout=0.3, what=what),
    )


@pytest.mark.parametrize("finish_with", ["retry", "repair"])
def test_promotion_stuck_on_the_registry_lock_is_finished_later(
    runner, tested, tmp_path: Path, short_registry_lock, finish_with: str
) -> None:
    earlier, root = tested("ds0"), tested()
    assert runner.invoke(app, ["promote", str(earlier)]).exit_code == 0
    store = tmp_path / "store"
    destination = store / "proj" / "cls" / root.name
    held = try_lock(store / ".registry.lock")  # flock $STORE/.registry.lock sleep 150 &
    assert held is not None
    try:
        stuck = runner.invoke(app, ["promote", str(root), "--alias", "production"])
    finally:
        release_lock(held)
    assert stuck.exit_code == 1
    line = one_line_error(stuck.output)
    assert "store repair" in line and "rerun" in line
    assert verify_tree(destination) == []  # complete in the store ...
    assert _promoted(runner) == {earlier.name: []}  # ... and not registered yet

    if finish_with == "retry":
        finished = runner.invoke(app, ["promote", str(root), "--alias", "production"])
        assert finished.exit_code == 0, finished.output
        assert "finished" in finished.stdout
    else:
        finished = runner.invoke(app, ["store", "repair"])
        assert finished.exit_code == 0, finished.output
    assert _promoted(runner) == {earlier.name: [], root.name: ["production"]}
    promotions = read_record(root / "record.json").promotions
    assert [p.path for p in promotions] == [str(destination)]
    again = runner.invoke(app, ["promote", str(root)])
    assert again.exit_code == 1 and "already promoted" in again.output


def test_retry_of_another_checkpoint_does_not_register_the_orphan(
    runner, tested, tmp_path: Path, short_registry_lock
) -> None:
    earlier, root = tested("ds0"), tested()
    assert runner.invoke(app, ["promote", str(earlier)]).exit_code == 0
    store = tmp_path / "store"
    held = try_lock(store / ".registry.lock")
    try:
        assert runner.invoke(app, ["promote", str(root)]).exit_code == 1
    finally:
        release_lock(held)
    other = runner.invoke(app, ["promote", str(root), "--checkpoint", "3"])
    assert other.exit_code == 1
    assert "best.keras" in one_line_error(other.output)
    assert _promoted(runner) == {earlier.name: []}


def test_deleted_registry_is_not_read_as_empty(runner, tested, tmp_path: Path) -> None:
    first, second = tested("ds1"), tested("ds2")
    assert runner.invoke(app, ["promote", str(first), "--alias", "production"]).exit_code == 0
    registry = tmp_path / "store" / "registry.json"
    registry.unlink()
    listed = runner.invoke(app, ["promoted"])
    assert listed.exit_code == 1 and "missing" in one_line_error(listed.output)
    assert runner.invoke(app, ["promote", str(second)]).exit_code == 1
    repaired = runner.invoke(app, ["store", "repair", "--json"])
    assert repaired.exit_code == 0, repaired.output
    assert json.loads(repaired.stdout)["broken_registry_kept_as"] is None
    assert _promoted(runner) == {first.name: ["production"]}

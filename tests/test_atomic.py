import json
from pathlib import Path

import pytest

from abyssexp.atomic import atomic_path, atomic_write_json


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failed_write_keeps_old_state(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_deferred_sync_writes_files_whole_and_flushes_once(tmp_path, monkeypatch) -> None:
    import os

    from abyssexp.atomic import atomic_write_json, deferred_sync

    monkeypatch.setenv("ABYSSEXP_TEST_FSYNC", "1")  # as users run it (the suite turns it off)
    calls = {"fsync": 0, "sync": 0}
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: calls.__setitem__("fsync", calls["fsync"] + 1) or real_fsync(fd)
    )
    real_sync = os.sync
    monkeypatch.setattr(
        os, "sync", lambda: calls.__setitem__("sync", calls["sync"] + 1) or real_sync()
    )
    with deferred_sync():
        with deferred_sync():  # nested: still one flush, at the outer end
            for i in range(5):
                atomic_write_json(tmp_path / f"{i}.json", {"i": i})
        assert calls == {"fsync": 0, "sync": 0}
    assert calls == {"fsync": 0, "sync": 1}
    assert [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(5)] == [
        {"i": i} for i in range(5)
    ]
    atomic_write_json(tmp_path / "after.json", {})  # outside: fsynced as always
    assert calls["fsync"] >= 1


def test_the_suite_setting_turns_every_flush_off_and_writes_stay_whole(
    tmp_path, monkeypatch
) -> None:
    """``ABYSSEXP_TEST_FSYNC=0`` (tests/conftest.py sets it) skips fsync and sync, nothing
    else: the files are written whole and renamed into place as always."""
    import os

    from abyssexp.atomic import atomic_write_json, deferred_sync

    monkeypatch.setenv("ABYSSEXP_TEST_FSYNC", "0")
    calls: list[str] = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(os, "sync", lambda: calls.append("sync"))
    atomic_write_json(tmp_path / "one.json", {"a": 1})
    with deferred_sync():
        atomic_write_json(tmp_path / "two.json", {"b": 2})
    assert calls == []
    assert json.loads((tmp_path / "one.json").read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json", "two.json"]

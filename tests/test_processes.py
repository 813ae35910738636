"""One answer to "is the process that left this gone?" (``processes.owner_state``), used by the
record's ``crashed``, a killed command's debris, a promotion's temporary and an object store
claim alike: host, pid and start time are one identity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from abyssexp import debris
from abyssexp.processes import (
    ELSEWHERE,
    GONE,
    LIVE,
    own_identity,
    owner_state,
    process_start,
    this_host,
)
from abyssexp.store import remote_claims, temporaries


def _dead_pid() -> tuple[int, int | None]:
    """A pid and start time of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    start = process_start(child.pid)
    child.kill()
    child.wait()
    return child.pid, start


def test_this_process_is_live_and_a_reused_pid_is_gone() -> None:
    pid, start = own_identity()
    assert owner_state(this_host(), pid, start) == LIVE
    assert owner_state(this_host(), pid, None) == LIVE  # no start recorded: the pid decides
    assert start is not None and owner_state(this_host(), pid, start + 1) == GONE


def test_an_ended_process_is_gone() -> None:
    pid, start = _dead_pid()
    assert owner_state(this_host(), pid, start) == GONE


def test_another_host_or_no_pid_is_never_called_gone() -> None:
    pid, start = _dead_pid()
    assert owner_state(this_host() + "-elsewhere", pid, start) == ELSEWHERE
    for missing in (None, 0, -1):
        assert owner_state(this_host(), missing, None) == ELSEWHERE


def test_debris_tags_use_the_same_identity() -> None:
    assert not debris.is_stale(debris.owner_tag())
    pid, start = _dead_pid()
    host = debris.owner_tag().split("-")[0]
    assert debris.is_stale(f"{host}-{pid}-{start}")
    # A tag whose start time could not be read (0): the pid alone decides, never "gone" while
    # the pid lives.
    assert not debris.is_stale(f"{host}-{os.getpid()}-0")


def test_claims_of_old_versions_with_a_text_start_time_read() -> None:
    pid, start = own_identity()
    owner = {"host": this_host(), "pid": pid, "process_start": str(start)}
    assert remote_claims.owner_state(owner) == temporaries.LIVE
    owner["process_start"] = str((start or 0) + 1)  # the pid now names another process
    assert remote_claims.owner_state(owner) == temporaries.STALE
    assert remote_claims.owner_state({**owner, "host": "elsewhere"}) == temporaries.OTHER_HOST


def test_a_temporary_owner_file_records_the_start_time(tmp_path: Path) -> None:
    with temporaries.claimed_temporary(tmp_path, "001-x") as folder:
        owner = json.loads(temporaries.owner_file_of(folder).read_text())
        assert owner["process_start"] == process_start(os.getpid())
        assert temporaries.classify(folder).state == temporaries.LIVE


def test_an_old_owner_file_without_a_start_time_is_judged_by_its_pid(tmp_path: Path) -> None:
    folder = tmp_path / ".tmp-001-x-abc"
    folder.mkdir()
    pid, _ = _dead_pid()
    owner = {"host": this_host(), "pid": pid, "started": "2026-01-01T00:00:00Z"}
    temporaries.owner_file_of(folder).write_text(json.dumps(owner))
    assert temporaries.classify(folder).state == temporaries.STALE

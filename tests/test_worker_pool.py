"""The image pools' workers: results in order, and never a worker left behind by a killed or
interrupted command (real processes, real signals)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abyssexp.worker_pool import map_in_processes, pool_pays

#: A command whose pool has 40 tasks of 1 s queued for two workers (20 s of work): prints its
#: pid and its workers' pids once the first result is in, then waits on the others.
POOL_SCRIPT = """
import os, signal, sys, time
from abyssexp.worker_pool import map_in_processes
signal.signal(signal.SIGINT, signal.default_int_handler)  # a test runner may ignore it
results = map_in_processes(time.sleep, [0.01] + [1.0] * 40, 2, 1)
next(results)
kids = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
print(os.getpid(), *kids, flush=True)
list(results)
print("finished", flush=True)
"""


def _start(tmp_path: Path, *, tensorflow_loaded: bool = False) -> tuple[subprocess.Popen, list]:
    script = POOL_SCRIPT
    if tensorflow_loaded:  # what the start method reads; the real one takes seconds to import
        script = "import sys, types; sys.modules['tensorflow'] = types.ModuleType('tf')\n" + script
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
        cwd=tmp_path,
    )
    assert process.stdout is not None
    pids = [int(pid) for pid in process.stdout.readline().split()]
    workers = [pid for pid in pids[1:] if _is_pool_worker(pid)]
    assert len(workers) == 2, pids
    return process, workers


def _is_pool_worker(pid: int) -> bool:
    try:
        return b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and _not_zombie(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_results_come_in_order() -> None:
    assert list(map_in_processes(abs, list(range(-50, 0)), 2, 7)) == list(range(50, 0, -1))


@pytest.mark.parametrize("tensorflow_loaded", [False, True], ids=["fork", "spawn"])
def test_a_killed_command_leaves_no_worker(tmp_path: Path, tensorflow_loaded: bool) -> None:
    """SIGKILL (or a SIGTERM nothing handles) ends the command alone; its workers used to wait on
    their queue forever. Each now sees its parent gone and exits."""
    process, workers = _start(tmp_path, tensorflow_loaded=tensorflow_loaded)
    process.kill()
    process.wait()
    assert _gone_within(workers, 5), f"workers {workers} outlived their parent"


@pytest.mark.parametrize("tensorflow_loaded", [False, True], ids=["fork", "spawn"])
def test_ctrl_c_stops_the_pool_at_once_and_quietly(tmp_path: Path, tensorflow_loaded) -> None:
    """Ctrl-C reaches the whole process group: the command stops well within the second its
    workers' tasks take (not after the task in hand, nor the 20 s queued), and only the
    command says so (no traceback per worker)."""
    process, workers = _start(tmp_path, tensorflow_loaded=tensorflow_loaded)
    time.sleep(0.2)  # the workers are in their 1 s tasks
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 0.8, stderr
    assert stderr.count("Traceback") == 1 and stderr.rstrip().endswith("KeyboardInterrupt")
    assert _gone_within(workers, 2)


def test_a_workers_error_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        list(map_in_processes(int, ["1", "2", "two", "4"], 2, 1))


def test_a_pool_left_early_stops_its_workers() -> None:
    import multiprocessing

    results = map_in_processes(time.sleep, [0.0] + [1.0] * 20, 2, 1)
    next(results)
    workers = [child.pid for child in multiprocessing.active_children()]
    results.close()
    assert workers and _gone_within(workers, 1)


def test_a_pool_pays_from_its_threshold_and_later_when_spawned(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert not pool_pays(255, 256) and pool_pays(256, 256)
    monkeypatch.setitem(sys.modules, "tensorflow", sys)  # any module: only its presence counts
    assert not pool_pays(256, 256) and pool_pays(1024, 256)


def test_leaving_one_pool_early_leaves_another_pool_alone() -> None:
    """Only the pool's own workers are terminated: a second pool, started in another thread
    meanwhile, finishes its work (it broke when every child of the process was terminated)."""
    import threading

    done: list[None] = []
    first = map_in_processes(time.sleep, [0.0] + [1.0] * 10, 2, 1)
    next(first)
    second = threading.Thread(
        target=lambda: done.extend(map_in_processes(time.sleep, [0.05] * 30, 2, 1))
    )
    second.start()
    time.sleep(0.3)  # its workers are running
    first.close()
    second.join(timeout=30)
    assert done == [None] * 30

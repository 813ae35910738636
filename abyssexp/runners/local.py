"""``--on local``: several trainings at once on this machine, one GPU each, the rest queued.

Each run is its own process (``python -m abyssexp train ROOT --quiet --resume``) with
``CUDA_VISIBLE_DEVICES`` set to its GPU, so runs never share a device and a crash stays in its
process. Its output goes to ``logs/local.log``. Without GPUs, runs go one after another unless
``parallel`` asks for more; CPU runs at once then share the cores (each gets cores / N threads).
Ctrl-C or SIGTERM stops every run cleanly (each finishes its batch and saves its recovery
checkpoint) and starts no new one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.record_file import load_record
from abyssexp.runners.targets import RunTarget

if TYPE_CHECKING:
    from abyssexp.training.plan import TrainOptions

LOCAL_LOG = "local.log"
POLL_S = 0.2


def visible_gpus() -> list[str]:
    """GPU ids this process may use, without TensorFlow: ``CUDA_VISIBLE_DEVICES`` when set,
    else what ``nvidia-smi`` lists; ``[]`` on a CPU machine."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        value = os.environ["CUDA_VISIBLE_DEVICES"].strip()
        return [] if value in ("", "-1") else [g.strip() for g in value.split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip().isdigit()]


def plan_slots(parallel: int | None, gpus: Sequence[str]) -> list[str | None]:
    """One entry per run at once: its GPU id, or None for a CPU run.

    Raises:
        InvalidInputError: ``parallel`` below 1, or more than the GPUs there are.
    """
    if parallel is not None and parallel < 1:
        raise InvalidInputError(f"--parallel: at least 1. Received: {parallel}")
    if not gpus:
        return [None] * (parallel or 1)
    if parallel is not None and parallel > len(gpus):
        raise InvalidInputError(
            f"--parallel {parallel}: this machine has {len(gpus)} GPU(s) ({', '.join(gpus)}) "
            f"and each run takes one; use --parallel {len(gpus)} or fewer"
        )
    return list(gpus[: parallel or len(gpus)])


@dataclass
class LocalRun:
    """One finished (or stopped) run."""

    name: str
    exit_code: int | None
    status: str
    seconds: float
    device: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


Event = Callable[[str, RunTarget, dict[str, Any]], None]


def _environment(slot: str | None, slots: int) -> dict[str, str]:
    env = dict(os.environ)
    if slot is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot
    elif slots > 1:  # CPU runs side by side: share the cores instead of fighting for them
        threads = str(max(1, (os.cpu_count() or 1) // slots))
        env.update(TF_NUM_INTRAOP_THREADS=threads, OMP_NUM_THREADS=threads)
    return env


def run_local(
    targets: Sequence[RunTarget],
    options: TrainOptions,
    parallel: int | None = None,
    on_event: Event | None = None,
) -> list[LocalRun]:
    """Run every target, ``parallel`` at a time (default: one per GPU, or one on a CPU).

    Returns:
        One ``LocalRun`` per target started, in the order they finished.
    """
    slots = plan_slots(parallel, visible_gpus())
    free = list(range(len(slots)))
    waiting = list(targets)
    running: dict[int, tuple[subprocess.Popen, RunTarget, float, Any]] = {}
    done: list[LocalRun] = []
    notify = on_event or (lambda *_: None)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while waiting or running:
            while waiting and free:
                slot = free.pop(0)
                target = waiting.pop(0)
                running[slot] = _start(target, options, slots[slot], len(slots))
                notify("start", target, {"device": _device(slots[slot])})
            for slot, (process, target, started, log) in list(running.items()):
                if process.poll() is None:
                    continue
                log.close()
                del running[slot]
                free.append(slot)
                done.append(_finished(target, process.returncode, started, slots[slot]))
                notify("end", target, done[-1].to_json())
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        for process, *_ in running.values():
            process.send_signal(signal.SIGTERM)  # each run stops after its batch
        for slot, (process, target, started, log) in running.items():
            process.wait()
            log.close()
            done.append(_finished(target, process.returncode, started, slots[slot]))
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return done


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _device(slot: str | None) -> str:
    return "cpu" if slot is None else f"gpu {slot}"


def _start(
    target: RunTarget, options: TrainOptions, slot: str | None, slots: int
) -> tuple[subprocess.Popen, RunTarget, float, Any]:
    target.paths.logs.mkdir(parents=True, exist_ok=True)
    log = open(target.paths.logs / LOCAL_LOG, "ab")  # noqa: SIM115 - closed when the run ends
    process = subprocess.Popen(
        target.command(options),
        env=_environment(slot, slots),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the runner, which stops each run once
    )
    return process, target, time.monotonic(), log


def _finished(target: RunTarget, code: int | None, started: float, slot: str | None) -> LocalRun:
    loaded = load_record(target.paths.record)
    return LocalRun(target.name, code, loaded.status, time.monotonic() - started, _device(slot))

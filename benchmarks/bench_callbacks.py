"""Per-epoch cost of abyssexp's training callbacks, callback by callback (issue 33, item 4).

End-to-end ratios against a plain Keras script (``bench_overhead.py``) swing by more than an
epoch's cost on a shared 2-core host: TensorFlow's threads spin while they wait for a core, and
one child's CPU moves by seconds between rounds. This benchmark attributes the per-epoch
remainder instead, in one process: it trains an ordinary ``abyssexp new`` experiment through
``plan_training``/``train_experiment`` (what ``abyssexp train`` runs), with every hook of every
callback (``on_epoch_end``, ``on_train_batch_end``, ...) wrapped in a timer, and prints per
callback the wall time per epoch, the CPU time of the thread that ran it, and its share of the
epoch. Timing a hook measures that hook alone, so the figures hold on a busy host.

A plain Keras script has a checkpoint and a CSV log too (``bench_overhead.py``'s script:
``ModelCheckpoint``, ``CSVLogger``): ``ExperimentCheckpoint`` (which also writes history.csv) is
their counterpart; the others are what abyssexp adds. The first epoch (tracing) is left out.

    python benchmarks/bench_callbacks.py [--images 300] [--epochs 6] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import abyssexp, table  # noqa: E402

#: The plain script's counterparts (not abyssexp's own cost), and the plain script's own
#: callbacks, run beside them on the same epochs.
COUNTERPARTS = {"ExperimentCheckpoint": "ModelCheckpoint + CSVLogger"}
PLAIN = ("ModelCheckpoint", "CSVLogger")


class HookTimes:
    """Wall and thread-CPU seconds each callback's hooks took, per epoch."""

    def __init__(self) -> None:
        self.epoch = 0
        self.wall: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self.cpu: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        self.epoch_wall: dict[int, float] = {}
        self.epoch_started = 0.0

    def wrap(self, callback: Any) -> None:
        """Replace each ``on_*`` hook of ``callback`` (an instance) by a timed one."""
        name = type(callback).__name__
        for attribute in dir(callback):
            if not attribute.startswith("on_"):
                continue
            hook = getattr(callback, attribute)
            if callable(hook):
                setattr(callback, attribute, self._timed(name, attribute, hook))

    def _timed(self, name: str, attribute: str, hook: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if attribute == "on_epoch_begin" and name == "_EpochClock":
                self.epoch, self.epoch_started = args[0], time.perf_counter()
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return hook(*args, **kwargs)
            finally:
                self.wall[name][self.epoch] += time.perf_counter() - wall
                self.cpu[name][self.epoch] += time.thread_time() - cpu
                if attribute == "on_epoch_end" and name == "_EpochClock":
                    self.epoch_wall[self.epoch] = time.perf_counter() - self.epoch_started

        return timed


def _instrumented(times: HookTimes, plain: Path) -> None:
    """Make ``make_callbacks`` return timed callbacks, with a clock first (epoch begin) and
    last (epoch end): the epoch's wall time spans every other callback. The plain script's
    ``ModelCheckpoint`` and ``CSVLogger`` run beside them (writing under ``plain``), timed
    too: the counterpart of ``ExperimentCheckpoint`` measured on the same epochs."""
    import keras

    from abyssexp.training import callbacks as module

    class _EpochClock(keras.callbacks.Callback):
        pass

    original = module.make_callbacks

    def make_callbacks(*args: Any, **kwargs: Any) -> Any:
        made, checkpoint = original(*args, **kwargs)
        clock_begin, clock_end = _EpochClock(), _EpochClock()
        plain.mkdir(parents=True, exist_ok=True)
        made = [
            *made,
            keras.callbacks.ModelCheckpoint(str(plain / "epoch{epoch:03d}.keras")),
            keras.callbacks.CSVLogger(str(plain / "history.csv")),
        ]
        for callback in made:
            times.wrap(callback)
        times.wrap(clock_begin)
        times.wrap(clock_end)
        # the first one's on_epoch_begin starts the epoch; the last one's on_epoch_end ends it
        clock_begin.on_epoch_end = lambda *a, **k: None
        clock_end.on_epoch_begin = lambda *a, **k: None
        return [clock_begin, *made, clock_end], checkpoint

    module.make_callbacks = make_callbacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    from abyssexp.datasets.synthetic import write_shapes_dataset

    work = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(work / "scratch")}
    os.environ["ABYSSEXP_SCRATCH"] = env["ABYSSEXP_SCRATCH"]
    counts = {"train": args.images, "val": max(args.images // 5, 20), "test": 10}
    data = write_shapes_dataset(work / "data", counts, size=args.size, seed=0)
    root = abyssexp(
        "new", "bench", "callbacks", "shapes", "--train", str(data["train"]),
        "--val", str(data["val"]), "--set", "model.init_weights=none",
        "--set", "model.backbone=mobilenetv3small", "--set", "dataset.map_by=supercategory",
        "--set", f"model.input_shape=[{args.size},{args.size},3]",
        "--set", f"training.epochs={args.epochs}", "--set", f"training.batch_size={args.batch}",
        env=env,
    )  # fmt: skip

    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.training.plan import TrainOptions, plan_training
    from abyssexp.training.run import train_experiment

    times = HookTimes()
    _instrumented(times, work / "plain")
    train_experiment(plan_training(ExperimentPaths(Path(root)), TrainOptions()))
    report(times, args)


def report(times: HookTimes, args: argparse.Namespace) -> str:
    """One row per callback: median wall ms per epoch (range), thread CPU ms, share of the
    epoch; then the sums for abyssexp's own callbacks and for the plain script's counterparts."""
    epochs = sorted(e for e in times.epoch_wall if e > min(times.epoch_wall))  # tracing left out
    epoch_wall = statistics.median(times.epoch_wall[e] for e in epochs)
    rows = [("epoch (wall, median)", f"{epoch_wall * 1000:.0f} ms")]
    own: list[float] = []
    plain: list[float] = []
    counterpart: list[float] = []
    for name in sorted(times.wall, key=lambda n: -statistics.median(
            times.wall[n][e] for e in epochs)):  # fmt: skip
        if name == "_EpochClock":
            continue
        walls = [times.wall[name][e] for e in epochs]
        cpus = [times.cpu[name][e] for e in epochs]
        median = statistics.median(walls)
        if name in PLAIN:
            plain.append(median)
        elif name in COUNTERPARTS:
            counterpart.append(median)
        else:
            own.append(median)
        label = f"{name}" + (f" (plain: {COUNTERPARTS[name]})" if name in COUNTERPARTS else "")
        rows.append((
            label,
            f"{median * 1000:7.1f} ms ({min(walls) * 1000:.1f}-{max(walls) * 1000:.1f}), "
            f"CPU {statistics.median(cpus) * 1000:.1f} ms, {median / epoch_wall:6.2%}",
        ))  # fmt: skip
    # the epoch without the plain script's callbacks, which abyssexp's run does not have
    alone = epoch_wall - sum(plain)
    extra = sum(own) + sum(counterpart) - sum(plain)
    rows.append(("abyssexp's own callbacks", f"{sum(own) * 1000:.1f} ms"))
    rows.append(
        ("checkpoint beyond the plain one", f"{(sum(counterpart) - sum(plain)) * 1000:.1f} ms")
    )
    rows.append(("abyssexp beyond the plain script", f"{extra * 1000:.1f} ms = "
                 f"{extra / (alone - extra):.2%} of a plain epoch (target: <= 3 %)"))  # fmt: skip
    title = (
        f"callbacks per epoch: {args.images} images, {args.size} px, batch {args.batch}, "
        f"epochs 2-{args.epochs} (median, range)"
    )
    return table(rows, title)


if __name__ == "__main__":
    main()

"""Sweeps: `sweep new` of 100 trials (target < 3 s), and on this machine two small trainings
with `--on local --parallel 2` against the same two one after the other (`--parallel 1`).

On a CPU-only machine the parallel runs share the cores; the ratio says what that buys (the
model and data are tiny, so start-up, TensorFlow import and graph building weigh a lot).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

TINY = [
    "--set", "model.backbone=mobilenet", "--set", "model.init_weights=none",
    "--set", "model.input_shape=[32,32,3]", "--set", "training.batch_size=16",
    "--set", "dataset.map_by=supercategory", "--set", "callbacks.pr_curves=false",
    "--set", "callbacks.tfpn=false", "--set", "callbacks.log_images=0",
]  # fmt: skip


def abyssexp(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "abyssexp", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"abyssexp {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    from abyssexp.datasets.synthetic import write_shapes_dataset

    work = Path(tempfile.mkdtemp(prefix="bench-sweeps-"))
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(work / "scratch"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["ABYSSEXP_CONFIG"] = str(work / "none.toml")
    data = write_shapes_dataset(
        work / "shapes", {"train": options.images, "val": 32}, size=32, seed=1
    )
    base = abyssexp(
        "new", "bench", "base", "shapes", "--train", str(data["train"]), "--val",
        str(data["val"]), *TINY, "--set", f"training.epochs={options.epochs}", env=env,
    )  # fmt: skip
    rows = []
    started = time.perf_counter()
    grid = ",".join(f"{i}e-4" for i in range(1, 26))
    abyssexp("sweep", "new", "bench", "many", "shapes", "--from", base, "--grid",
             f"training.lr={grid}", "--seeds", "4", env=env)  # fmt: skip
    rows.append(
        ("sweep new, 100 trials (CLI, incl. start-up)", f"{time.perf_counter() - started:.2f} s")
    )
    times: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(options.repeats):
        for parallel in (1, 2):
            sweep = abyssexp("sweep", "new", "bench", f"p{parallel}r{repeat}", "shapes", "--from",
                             base, "--grid", "training.lr=1e-3,5e-4", env=env)  # fmt: skip
            started = time.perf_counter()
            abyssexp("sweep", "run", sweep, "--on", "local", "--parallel", str(parallel), env=env)
            times[parallel].append(time.perf_counter() - started)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    rows += [
        (f"2 trainings one after the other ({options.epochs} epochs)", f"{one:.1f} s"),
        ("2 trainings with --parallel 2", f"{two:.1f} s"),
        ("speed-up (one after the other / parallel)", f"{one / two:.2f}x"),
        ("CPUs", str(os.cpu_count())),
    ]
    table(rows, "sweeps")


if __name__ == "__main__":
    main()

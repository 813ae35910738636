"""Shared helpers: quiet TensorFlow, medians of repeated timings, a results table."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from abyssexp.tf_runtime import configure_tensorflow_environment

configure_tensorflow_environment()  # what the CLI runs with


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def table(rows: list[tuple[str, str]], title: str) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [f"## {title}", ""] + [f"{name:<{width}}  {value}" for name, value in rows]
    text = "\n".join(lines)
    print(text)
    return text


def steady_rate(dataset, warmup: int, batches: int) -> tuple[float, float]:
    """(images/s, CPU ms per image) over ``batches`` after ``warmup`` batches of a fresh iterator
    of a repeating dataset of (images, targets): the steady state a training run sees."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    seen = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        images, _ = next(iterator)
        seen += int(images.shape[0])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del iterator
    return seen / wall, 1000.0 * cpu / seen


def in_rounds(
    cases: dict[str, object], rounds: int, warmup: int, batches: int
) -> dict[str, list[tuple[float, float]]]:
    """``steady_rate`` of every case, ``rounds`` times, in a shuffled order each round (so that
    no case always follows another one's teardown, and load from other tenants hits all alike)."""
    import gc
    import random

    order = random.Random(0)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(rounds):
        names = list(cases)
        order.shuffle(names)
        for name in names:
            gc.collect()
            time.sleep(0.3)
            results[name].append(steady_rate(cases[name], warmup, batches))
    return results


def abyssexp(*args: str, env: dict[str, str]) -> str:
    """Run ``abyssexp ARGS`` as a user would (a new process); its last line of output (the
    experiment folder, for ``new``). Stops the benchmark with the error on failure."""
    result = subprocess.run(
        [sys.executable, "-m", "abyssexp", *args], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"abyssexp {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def trained_accuracy(new_args: list[str], test_coco: Path, env: dict[str, str]) -> float:
    """``new NEW_ARGS``, ``train``, then ``test`` on ``test_coco``: the test accuracy."""
    root = abyssexp("new", *new_args, env=env)
    abyssexp("train", root, "--quiet", env=env)
    abyssexp("test", root, "--coco", str(test_coco), "--condition", "test", env=env)
    metrics = json.loads((Path(root) / "testing" / "test" / "metrics.json").read_text())
    return metrics["accuracy"]


def accuracy_rows(results: dict[str, list[float]]) -> list[tuple[str, str]]:
    """One row per case: the median accuracy over seeds, the range and every value."""
    return [
        (
            name,
            f"median {statistics.median(v):.3f}  (range {min(v):.3f}-{max(v):.3f}; "
            + ", ".join(f"{a:.3f}" for a in v)
            + ")",
        )
        for name, v in results.items()
    ]

"""Shared helpers: quiet TensorFlow, medians of repeated timings, a results table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

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

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

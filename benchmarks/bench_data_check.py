"""``data check`` on a 20,000-image COCO file: without decoding (must be < 2 s) and decoding every
image on every core, against a plain single-thread PIL loop (``Image.open(path).convert("RGB")``
for every file), interleaved in shuffled rounds: the per-round ratio must be ≥ 1.6 on 2 cores.

Usage: python benchmarks/bench_data_check.py [IMAGES] [REPEATS] [WIDTHxHEIGHT]
Writes synthetic JPEGs to a temporary folder: by default 64×64, 16 distinct noisy images repeated
(the issue's case, where opening a file costs more than decoding it); with a larger size, 16
photo-like pictures (``bench_pipeline.write_jpegs``) repeated, where decoding dominates.
Reports medians and ranges (min-max) of REPEATS runs.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import table  # noqa: E402


def make_dataset(folder: Path, count: int, size: tuple[int, int] = (64, 64)) -> Path:
    width, height = size
    blobs = []
    if size == (64, 64):
        rng = np.random.default_rng(0)
        for index in range(16):
            pixels = np.clip(rng.normal(60 + index * 10, 30, (64, 64, 3)), 0, 255)
            buffer = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=85)
            blobs.append(buffer.getvalue())
    else:
        from benchmarks.bench_pipeline import write_jpegs

        pictures = folder / "pictures"
        pictures.mkdir()
        write_jpegs(pictures, 16, width, height)
        blobs = [(pictures / f"{index:05d}.jpg").read_bytes() for index in range(16)]
    images, annotations = [], []
    for index in range(count):
        name = f"img_{index:06d}.jpg"
        (folder / name).write_bytes(blobs[index % 16])
        images.append({"id": index + 1, "file_name": name, "width": width, "height": height})
        annotations.append(
            {
                "id": index + 1,
                "image_id": index + 1,
                "category_id": 1 + index % 2,
                "bbox": [0, 0, 0, 0],
            }
        )
    path = folder / "coco.json"
    categories = [{"id": 1, "name": "ok"}, {"id": 2, "name": "crack"}]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def timed(fn, repeats: int) -> tuple[float, float, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples), max(samples)


def pil_loop(path: Path) -> None:
    """What a user would write by hand: every file opened and converted, one after the other."""
    folder = path.parent
    for image in json.loads(path.read_text())["images"]:
        with Image.open(folder / image["file_name"]) as opened:
            opened.convert("RGB")


def interleaved(path: Path, check, cores: int, repeats: int) -> list[tuple[str, str]]:
    """The decoding cases in a shuffled order each round; medians, ranges, per-round ratios."""
    import random

    cases = {
        f"decoding, {cores} processes (every core)": lambda: check(True, cores),
        "decoding, 1 thread": lambda: check(True, 1),
        "plain PIL loop, 1 thread (open + convert)": lambda: pil_loop(path),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(repeats):
        names = list(cases)
        random.Random(round_).shuffle(names)
        for name in names:
            start = time.perf_counter()
            cases[name]()
            samples[name].append(time.perf_counter() - start)
    rows = []
    for name, values in samples.items():
        rows.append(
            (name, f"{statistics.median(values):.2f} s (range {min(values):.2f}-{max(values):.2f})")
        )
    plain = samples["plain PIL loop, 1 thread (open + convert)"]
    for name in list(cases)[:2]:
        ratios = sorted(p / d for p, d in zip(plain, samples[name], strict=True))
        rows.append(
            (
                f"speed-up over the PIL loop, {name.removeprefix('decoding, ')}",
                f"{statistics.median(ratios):.2f}× ({ratios[0]:.2f}-{ratios[-1]:.2f})"
                + (" (target ≥ 1.6)" if "processes" in name else ""),
            )
        )
    return rows


def main() -> None:
    from abyssexp.datasets.check import check_coco

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    width, height = (int(n) for n in (sys.argv[3] if len(sys.argv) > 3 else "64x64").split("x"))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        path = make_dataset(Path(tmp), count, (width, height))
        rows = []

        def check(decode: bool, workers: int) -> None:
            report = check_coco(path, decode=decode, workers=workers)
            assert report.ok, report.problems

        rows += interleaved(path, check, cores, repeats)
        median, low, high = timed(lambda: check(False, cores), repeats + 2)
        rows.append(
            (
                "no decoding (in process)",
                f"{median:.2f} s (range {low:.2f}-{high:.2f}), {count / median:,.0f} images/s",
            )
        )
        command = [
            sys.executable,
            "-m",
            "abyssexp",
            "data",
            "check",
            str(path),
            "--no-decode",
            "--json",
        ]
        median, low, high = timed(
            lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL), repeats
        )
        rows.append(
            (
                "`abyssexp data check --no-decode` (a new process)",
                f"{median:.2f} s (range {low:.2f}-{high:.2f})",
            )
        )
    table(rows, f"data check, {count} images of {width}x{height}, {cores} core(s), {repeats} runs")


if __name__ == "__main__":
    main()

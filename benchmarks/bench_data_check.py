"""``data check`` on a 20,000-image COCO file: without decoding (must be < 2 s) and decoding every
image on every core (threads; PIL releases the GIL while it decodes).

Usage: python benchmarks/bench_data_check.py [IMAGES] [REPEATS]
Writes small synthetic JPEGs (64×64, 16 distinct noisy images repeated) to a temporary folder.
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


def make_dataset(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    blobs = []
    for index in range(16):
        pixels = np.clip(rng.normal(60 + index * 10, 30, (64, 64, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
        blobs.append(buffer.getvalue())
    images, annotations = [], []
    for index in range(count):
        name = f"img_{index:06d}.jpg"
        (folder / name).write_bytes(blobs[index % 16])
        images.append({"id": index + 1, "file_name": name, "width": 64, "height": 64})
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


def main() -> None:
    from abyssexp.datasets.check import check_coco

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        path = make_dataset(Path(tmp), count)
        rows = []

        def check(decode: bool, workers: int) -> None:
            report = check_coco(path, decode=decode, workers=workers)
            assert report.ok, report.problems

        for label, decode, workers, n in (
            ("no decoding (in process)", False, cores, repeats + 2),
            (f"decoding, {cores} processes (every core)", True, cores, repeats),
            ("decoding, 1 thread", True, 1, repeats),
        ):
            median, low, high = timed(lambda d=decode, w=workers: check(d, w), n)
            rows.append(
                (
                    label,
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
    table(rows, f"data check, {count} images of 64x64, {cores} core(s), {repeats} runs")


if __name__ == "__main__":
    main()

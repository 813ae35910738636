"""The disk image cache (``training.cache: disk``) against decoding, all in one run: large photo-like
JPEGs (4000×3000) → 299×299. Prints images/s, medians and ranges of per-round ratios, and the
cache's size per image against the raw uint8 pixels.

Cases: (decode) the training pipeline decoding every file (DCT downscaling applies: ratio 8);
(cache, epoch ≥ 2) the same pipeline reading the cache, in steady state (``_common.in_rounds``);
(second experiment) building a new pipeline on the same files (header probes, the cache's check
pass) and reading one whole epoch, against building a decoding pipeline and decoding one epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import in_rounds, table  # noqa: E402
from bench_pipeline import write_jpegs  # noqa: E402


def photos(folder: Path, count: int, distinct: int, width: int, height: int) -> Path:
    """``count`` JPEG files, ``distinct`` different photo-like pictures (making a 12-megapixel
    picture takes seconds; the decoder's work depends on the file's content, not its name)."""
    coco = write_jpegs(folder, distinct, width, height)
    data = json.loads(coco.read_text())
    images, annotations = [], []
    for i in range(count):
        name = f"{i:05d}.jpg"
        if i >= distinct:
            shutil.copyfile(folder / f"{i % distinct:05d}.jpg", folder / name)
        images.append({"id": i + 1, "file_name": name, "width": width, "height": height})
        annotations.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 3, "bbox": [0, 0, 0, 0]}
        )
    coco.write_text(json.dumps({**data, "images": images, "annotations": annotations}))
    return coco


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    low, high = min(values), max(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(low)}–{fmt.format(high)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--distinct", type=int, default=8)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.image_cache import cache_dir, cache_info
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    size = (args.size, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = ImageClassificationDataset(
            photos(Path(tmp), args.images, args.distinct, 4000, 3000)
        )
        root = cache_dir(Path(tmp) / "scratch")
        decode = PipelineSpec(input_size=size, batch_size=args.batch, training=True, repeat=True)
        cached = dataclasses.replace(decode, disk_cache=root)
        started = time.perf_counter()
        cache_pipeline = make_tf_dataset(dataset, cached)  # the first reader fills the cache
        fill = time.perf_counter() - started
        epoch = max(1, args.images // args.batch)
        steady = in_rounds(
            {"decode": make_tf_dataset(dataset, decode), "cache": cache_pipeline},
            args.rounds,
            warmup=epoch,
            batches=2 * epoch,
        )

        def first_epoch(spec: PipelineSpec) -> tuple[float, float]:
            """Build a new pipeline (another experiment: its own seed) and read one epoch:
            images/s of wall time, and CPU seconds (every thread of this process)."""
            start, cpu = time.perf_counter(), time.process_time()
            one = dataclasses.replace(spec, repeat=False, seed=spec.seed + 1)
            seen = sum(int(x.shape[0]) for x, _ in make_tf_dataset(dataset, one))
            return seen / (time.perf_counter() - start), time.process_time() - cpu

        second: dict[str, list[float]] = {"decode": [], "cache": []}
        second_cpu: dict[str, list[float]] = {"decode": [], "cache": []}
        for _ in range(args.rounds):
            for name, spec in (("decode", decode), ("cache", cached)):
                rate, cpu = first_epoch(spec)
                second[name].append(rate)
                second_cpu[name].append(cpu)
        info = cache_info(root)
    raw = args.size * args.size * 3
    rates = {name: [r for r, _ in runs] for name, runs in steady.items()}
    steady_ratios = [c / d for c, d in zip(rates["cache"], rates["decode"], strict=True)]
    second_ratios = [c / d for c, d in zip(second["cache"], second["decode"], strict=True)]
    cpu_ratios = [d / c for c, d in zip(second_cpu["cache"], second_cpu["decode"], strict=True)]
    table(
        [
            ("images → input", f"{args.images} JPEGs 4000×3000 → {args.size}×{args.size}"),
            ("first experiment, epoch 1 (fill)", f"{args.images / fill:.1f} images/s"),
            ("(decode) epoch ≥ 2, images/s", spread(rates["decode"])),
            ("(cache) epoch ≥ 2, images/s", spread(rates["cache"])),
            ("ratio epoch ≥ 2 cache/decode", spread(steady_ratios) + " ×  (target ≥ 10)"),
            ("second experiment, epoch 1, decode", spread(second["decode"])),
            ("second experiment, epoch 1, cache", spread(second["cache"])),
            ("ratio second experiment", spread(second_ratios) + " ×  (target ≥ 10)"),
            ("second experiment, CPU s, decode", spread(second_cpu["decode"], "{:.3f}")),
            ("second experiment, CPU s, cache", spread(second_cpu["cache"], "{:.3f}")),
            ("ratio second experiment, CPU decode/cache", spread(cpu_ratios) + " ×"),
            (
                "cache bytes per image / raw uint8",
                f"{info.bytes / info.entries / raw:.4f} ×  (target ≤ 1.1)",
            ),
        ],
        "bench_cache",
    )


if __name__ == "__main__":
    main()

"""Input pipeline throughput, all in one run: (a) the plain parallel decode+resize limit, (b) the
seed-style Python generator chain, (c) the abyssexp tf.data pipeline, (d) epoch-2 validation with
and without ``cache_val``. Prints images/s and the ratios the data issue targets.

(a) and (c) are repeating training pipelines measured in steady state, in shuffled rounds (see
``_common.in_rounds``); (d) times whole validation passes, as validation runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import in_rounds, table  # noqa: E402


def write_jpegs(folder: Path, count: int, width: int, height: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i in range(count):
        # Photo-like content: smooth structure at two scales plus mild sensor noise. (Pure noise
        # would make Huffman decoding dominate, which no real dataset does.)
        coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
        detail = Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
        picture = 0.75 * np.asarray(
            coarse.resize((width, height), Image.Resampling.BICUBIC), np.float32
        )
        picture += 0.25 * np.asarray(
            detail.resize((width, height), Image.Resampling.BILINEAR), np.float32
        )
        picture += rng.normal(0, 4, picture.shape)
        picture = np.clip(picture, 0, 255).astype(np.uint8)
        Image.fromarray(picture).save(folder / f"{i:05d}.jpg", quality=90)
        images.append({"id": i + 1, "file_name": f"{i:05d}.jpg", "width": width, "height": height})
        annotations.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 3, "bbox": [0, 0, 0, 0]}
        )
    path = folder / "coco.json"
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": k, "name": f"c{k}"} for k in (1, 2, 3)],
            }
        )
    )
    return path


def rate(dataset, count: int, repeats: int = 3) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        seen = 0
        for images, _ in dataset:
            seen += int(images.shape[0])
        samples.append(seen / (time.perf_counter() - start))
        assert seen >= count * 0.99, seen
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--generator-images", type=int, default=160, help="the seed chain is slow: time this many"
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import tensorflow as tf
    from keras.applications.xception import preprocess_input

    from abyssexp.datasets import batching_gen, lambda_gen, multihot_gen
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset, resize_bilinear

    size = (args.size, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        coco = write_jpegs(Path(tmp), args.images, 640, 480)
        dataset = ImageClassificationDataset(coco)
        paths = [str(p) for p in dataset.image_paths]

        def plain(out: tuple[int, int], rounding: bool = False) -> tf.data.Dataset:
            def load(path):
                image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
                # The same resize as the pipeline (float32 first for small sources); a cast
                # truncates, as most hand-written maps do; ``rounding`` rounds as abyssexp does
                # (every path's pixels are the same rounded values: cache, export parity).
                resized = resize_bilinear(image, out)
                return tf.cast(tf.round(resized) if rounding else resized, tf.uint8)

            ds = tf.data.Dataset.from_tensor_slices(paths).repeat()
            ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
            return ds.batch(args.batch).map(lambda x: (x, x)).prefetch(tf.data.AUTOTUNE)

        def ours_at(out: tuple[int, int]) -> tf.data.Dataset:
            spec = PipelineSpec(input_size=out, batch_size=args.batch, training=True, repeat=True)
            return make_tf_dataset(dataset, spec)

        # At 224 a 640×480 JPEG is at least twice the input: DCT downscaling (ratio=2) applies.
        small = (224, 224)
        steady = in_rounds(
            {
                "a": plain(size),
                "a_round": plain(size, rounding=True),
                "c": ours_at(size),
                "a224": plain(small),
                "c224": ours_at(small),
            },
            args.rounds,
            warmup=4,
            batches=16,
        )

        def median_rate(name: str) -> float:
            return statistics.median(r for r, _ in steady[name])

        def median_ratio(top: str, bottom: str) -> str:
            """Median of the per-round ratios, and their range."""
            pairs = zip(steady[top], steady[bottom], strict=True)
            ratios = [a / b for (a, _), (b, _) in pairs]
            return f"{statistics.median(ratios):8.2f} ({min(ratios):.2f}–{max(ratios):.2f})"

        def cpu_ratio(top: str, bottom: str) -> str:
            """Median (range) of the per-round ratios of CPU time per image (all threads of
            this process: steadier than wall time on a shared host)."""
            pairs = zip(steady[top], steady[bottom], strict=True)
            ratios = [a / b for (_, a), (_, b) in pairs]
            return f"{statistics.median(ratios):8.3f} ({min(ratios):.3f}–{max(ratios):.3f})"

        def cpu_ms(name: str) -> str:
            values = [c for _, c in steady[name]]
            return f"{statistics.median(values):8.3f} ms ({min(values):.3f}–{max(values):.3f})"

        limit, ours = median_rate("a"), median_rate("c")
        limit_224, ours_224 = median_rate("a224"), median_rate("c224")

        from skimage.transform import resize

        def seed_preprocess(image, caption):
            # The guide's preprocess, verbatim: skimage's anti-aliased float64 resize.
            resized = resize(image, (*size, 3), preserve_range=True)
            return preprocess_input(resized.astype(np.float32)), caption

        chain = batching_gen(
            multihot_gen(
                lambda_gen(dataset.generator(shuffle=True), func=seed_preprocess), num_classes=3
            ),
            batch_size=args.batch,
        )
        start = time.perf_counter()
        seen = 0
        while seen < args.generator_images:
            images, _ = next(chain)
            seen += len(images)
        generator = seen / (time.perf_counter() - start)

        uncached = make_tf_dataset(dataset, PipelineSpec(input_size=size, batch_size=args.batch))
        cached = make_tf_dataset(
            dataset, PipelineSpec(input_size=size, batch_size=args.batch, cache=True)
        )
        rate(cached, args.images, repeats=1)  # epoch 1 fills the cache
        val_uncached = rate(uncached, args.images)
        val_cached = rate(cached, args.images)
    table(
        [
            (
                "images (640×480 JPEG) → input",
                f"{args.images} → {args.size}×{args.size}, batch {args.batch}",
            ),
            ("(a) plain parallel decode+resize", f"{limit:8.0f} images/s"),
            ("(b) seed-style generator chain", f"{generator:8.0f} images/s"),
            ("(c) abyssexp tf.data", f"{ours:8.0f} images/s"),
            ("(a) at 224×224", f"{limit_224:8.0f} images/s"),
            ("(c) at 224×224 (DCT ratio=2 applies)", f"{ours_224:8.0f} images/s"),
            ("(d) epoch-2 validation, no cache", f"{val_uncached:8.0f} images/s"),
            ("(d) epoch-2 validation, cache_val", f"{val_cached:8.0f} images/s"),
            ("ratio (c)/(b)", f"{ours / generator:8.1f} ×  (target ≥ 20)"),
            ("ratio (c)/(a)", f"{median_ratio('c', 'a')} ×  (target ≥ 0.95)"),
            ("ratio (c)/(a) at 224, DCT", f"{median_ratio('c224', 'a224')} ×  (target > 1)"),
            ("CPU per image (a)", cpu_ms("a")),
            ("CPU per image (c)", cpu_ms("c")),
            ("CPU per image (a) at 224", cpu_ms("a224")),
            ("CPU per image (c) at 224", cpu_ms("c224")),
            ("CPU per image (a), rounding as (c)", cpu_ms("a_round")),
            ("CPU per image (c)/(a)", f"{cpu_ratio('c', 'a')} ×  (target ≤ 1.02)"),
            ("CPU per image (c)/(a rounding)", f"{cpu_ratio('c', 'a_round')} ×"),
            ("CPU per image (c)/(a) at 224", f"{cpu_ratio('c224', 'a224')} ×  (target ≤ 1.02)"),
            (
                "ratio cached/uncached validation",
                f"{val_cached / val_uncached:8.1f} ×  (target ≥ 10)",
            ),
        ],
        "bench_pipeline",
    )


if __name__ == "__main__":
    main()

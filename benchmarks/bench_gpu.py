"""GPU figures, one prepared script (≤ 10 minutes on one GPU): Xception at 299 px with mixed
precision through `abyssexp new` + `abyssexp train` against the plain Keras script of
bench_overhead.py (images/s of an epoch), the share of a training step that augmentation takes (placement: model, on the GPU),
and the copy of a batch to the GPU as uint8 (what the pipeline yields) against float32.

On a machine without a GPU it says so and exits 0: these figures mean nothing on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402


def training_rates(args: argparse.Namespace) -> list[tuple[str, str]]:
    """images/s of an epoch: (T(3 epochs) - T(1 epoch)) / 2 per case, medians of the rounds."""
    from bench_overhead import PLAIN, abyssexp_case, plain_case

    from abyssexp.datasets.synthetic import write_shapes_dataset

    options = argparse.Namespace(
        size=299,
        batch=args.batch,
        backbone="xception",
        keras_backbone="Xception",
        mixed=True,
    )
    per_epoch: dict[str, list[float]] = {"abyssexp": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        (work / "plain_keras.py").write_text(PLAIN)
        data = write_shapes_dataset(
            work / "shapes", {"train": args.images, "val": args.images // 8}, size=320, seed=1
        )
        for _ in range(args.repeats):
            for name, case in (("abyssexp", abyssexp_case), ("plain", plain_case)):
                one = case(data, work, options, 1)[0]
                three = case(data, work, options, 3)[0]
                per_epoch[name].append((three - one) / 2)
    rows = []
    for name in per_epoch:
        rates = sorted(args.images / s for s in per_epoch[name])
        rows.append(
            (
                f"{name}: Xception@299 mixed_float16, images/s",
                f"{statistics.median(rates):.0f} ({rates[0]:.0f}-{rates[-1]:.0f})",
            )
        )
    ratio = statistics.median(per_epoch["abyssexp"]) / statistics.median(per_epoch["plain"])
    rows.append(("per-epoch time, abyssexp / plain (target ≤ 1.03)", f"{ratio:.3f}×"))
    return rows


def augmentation_share(args: argparse.Namespace) -> list[tuple[str, str]]:
    """One training step with and without the default augmentation recipe, on the GPU."""
    import keras
    import numpy as np

    from abyssexp import ImageClassifier
    from abyssexp.schemas.params import AugmentationParams

    keras.mixed_precision.set_global_policy("mixed_float16")
    recipe = AugmentationParams(enabled=True).model_dump(mode="json")
    x = np.random.default_rng(0).integers(0, 255, (args.batch, 299, 299, 3)).astype("uint8")
    y = np.eye(3, dtype="float32")[np.arange(args.batch) % 3]
    times = {}
    for name, augmentation in (("without", None), ("with", recipe)):
        model = ImageClassifier(
            backbone="xception",
            classes=3,
            input_shape=(299, 299, 3),
            init_weights="none",
            include_preprocessing=True,
            augmentation=augmentation,
        ).model
        for _ in range(3):
            model.train_on_batch(x, y)
        samples = []
        for _ in range(args.steps):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples)
    share = 1 - times["without"] / times["with"]
    return [
        ("step without augmentation", f"{1000 * times['without']:.1f} ms"),
        ("step with the default augmentation", f"{1000 * times['with']:.1f} ms"),
        ("augmentation share of a step", f"{100 * share:.1f} %"),
    ]


def transfer(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Host→device copy of one batch of 299 px images, uint8 against float32."""
    import numpy as np
    import tensorflow as tf

    rows = []
    for dtype in ("uint8", "float32"):
        with tf.device("/CPU:0"):
            batch = tf.constant(np.zeros((args.batch, 299, 299, 3), dtype=dtype))
        samples = []
        for _ in range(args.steps + 3):
            start = time.perf_counter()
            with tf.device("/GPU:0"):
                copied = tf.identity(batch)
            copied.numpy()[0, 0, 0, 0]  # noqa: B018 - waits for the copy
            samples.append(time.perf_counter() - start)
        seconds = statistics.median(samples[3:])
        mb = batch.numpy().nbytes / 1e6
        rows.append(
            (f"batch of {args.batch} to the GPU, {dtype}", f"{1000 * seconds:.2f} ms ({mb:.0f} MB)")
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("bench_gpu: needs a GPU (TensorFlow sees none here); nothing measured.")
        return
    rows = [("device", ", ".join(g.name for g in gpus))]
    rows += transfer(args)
    rows += augmentation_share(args)
    rows += training_rates(args)
    table(rows, "bench_gpu")


if __name__ == "__main__":
    main()

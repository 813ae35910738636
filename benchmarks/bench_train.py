"""Training throughput of `abyssexp train`'s input pipeline feeding the model vs a bare `model.fit`
on in-memory tensors of the same model and batch. The pipeline must not starve the model
(target ≥ 0.9). Add --mixed-precision on a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402
from bench_pipeline import write_jpegs  # noqa: E402


class Timer:
    def __init__(self) -> None:
        import keras

        class _Callback(keras.callbacks.Callback):
            def __init__(inner) -> None:
                super().__init__()
                inner.epochs: list[float] = []

            def on_epoch_begin(inner, epoch, logs=None) -> None:
                inner.start = time.perf_counter()

            def on_epoch_end(inner, epoch, logs=None) -> None:
                inner.epochs.append(time.perf_counter() - inner.start)

        self.callback = _Callback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    from abyssexp import ImageClassifier
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset, steps_for

    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    shape = (args.size, args.size, 3)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = ImageClassificationDataset(write_jpegs(Path(tmp), args.images, 640, 480))
        steps = steps_for(len(dataset), args.batch)

        def model():
            keras.utils.set_random_seed(0)
            return ImageClassifier(
                backbone=args.backbone,
                classes=3,
                input_shape=shape,
                init_weights="none",
                init_lr=1e-3,
                include_preprocessing=True,
            ).model

        x = (
            np.random.default_rng(0)
            .uniform(0, 255, (steps * args.batch, *shape))
            .astype(np.float32)
        )
        y = np.eye(3, dtype=np.float32)[np.arange(len(x)) % 3]
        bare_data = (
            tf.data.Dataset.from_tensor_slices((x, y))
            .batch(args.batch)
            .repeat()
            .prefetch(tf.data.AUTOTUNE)
        )

        def timed_fit(data) -> Timer:
            """A fresh model fitted on ``data``; its per-epoch timer."""
            timer = Timer()
            model().fit(
                data,
                epochs=args.epochs + 1,
                steps_per_epoch=steps,
                callbacks=[timer.callback],
                verbose=0,
            )
            return timer

        def spec(cache: bool) -> PipelineSpec:
            return PipelineSpec(
                input_size=shape[:2],
                batch_size=args.batch,
                training=True,
                repeat=True,
                normalise_targets=True,
                cache=cache,
            )

        bare = timed_fit(bare_data)
        ours = timed_fit(make_tf_dataset(dataset, spec(cache=False)))
        cached = timed_fit(make_tf_dataset(dataset, spec(cache=True)))
    images = steps * args.batch
    bare_rate = images / statistics.median(bare.callback.epochs[1:])
    ours_rate = images / statistics.median(ours.callback.epochs[1:])
    cached_rate = images / statistics.median(cached.callback.epochs[1:])
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    table(
        [
            ("device", ", ".join(gpus) or "CPU"),
            (
                "model",
                f"{args.backbone} {args.size}×{args.size}, batch {args.batch}"
                + (", mixed_float16" if args.mixed_precision else ""),
            ),
            (
                "bare model.fit, in-memory tensors",
                f"{bare_rate:8.0f} images/s (median epoch after the first)",
            ),
            ("abyssexp pipeline (JPEG decode+resize)", f"{ours_rate:8.0f} images/s"),
            ("ratio", f"{ours_rate / bare_rate:8.2f} ×  (target ≥ 0.9)"),
            ("abyssexp pipeline, training.cache_train", f"{cached_rate:8.0f} images/s"),
            ("ratio with cache_train", f"{cached_rate / bare_rate:8.2f} ×"),
        ],
        "bench_train",
    )


if __name__ == "__main__":
    main()

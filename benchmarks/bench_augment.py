"""Augmentation cost in the training pipeline, in one run, with the seed's example configuration at
299×299: no augmentation, the tf backend (pipeline and model placements), the imgaug backend (when
installed, at full parallelism), and each op alone. Prints images/s and ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402
from bench_pipeline import write_jpegs  # noqa: E402

SEED_CONFIG = (
    '{"some_of":None, "flip_lr":True, "flip_ud":True, "gblur":None, "avgblur":None,'
    '"gnoise":(0,0.05*255),"scale":(0.8, 1.2), "rotate":(-22.5, 22.5), "bright":(0.75,1.25),'
    '"colour_shift":(0.9,1.1)}'
)


def rate(dataset, repeats: int = 3) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        seen = sum(int(images.shape[0]) for images, _ in dataset)
        samples.append(seen / (time.perf_counter() - start))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    import tensorflow as tf

    from abyssexp.augmentation import config_from_any
    from abyssexp.augmentation.tf_backend import augment_batch, batch_augmenter, image_augmenter_fn
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset
    from abyssexp.models.layers import SeedAugmentation

    params = config_from_any(SEED_CONFIG)
    size = (args.size, args.size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dataset = ImageClassificationDataset(write_jpegs(Path(tmp), args.images, 640, 480))
        spec = PipelineSpec(input_size=size, batch_size=args.batch, training=True)
        plain = rate(make_tf_dataset(dataset, spec))
        tf_pipeline = rate(
            make_tf_dataset(dataset, spec, augment_image=image_augmenter_fn(params, size))
        )
        tf_batched = rate(make_tf_dataset(dataset, spec, augment=batch_augmenter(params)))
        layer = SeedAugmentation(params.model_dump(mode="json"), seed=0)
        in_model = make_tf_dataset(dataset, spec).map(lambda x, y: (layer(x, training=True), y))
        # placement=model: measured as the layer's cost on the host CPU (on a GPU it runs there).
        tf_model = rate(in_model)
        rows += [
            (
                "images → input",
                f"{args.images} JPEG 640×480 → {args.size}×{args.size}, batch {args.batch}",
            ),
            ("pipeline, no augmentation", f"{plain:7.0f} images/s"),
            (
                "tf backend, placement=pipeline",
                f"{tf_pipeline:7.0f} images/s  ({tf_pipeline / plain:.2f} × no-aug; target ≥ 0.4)",
            ),
            ("tf backend, batched ops in tf.data", f"{tf_batched:7.0f} images/s"),
            ("tf backend, placement=model (on CPU)", f"{tf_model:7.0f} images/s"),
        ]
        if importlib.util.find_spec("imgaug") is not None:
            from abyssexp.augmentation.imgaug_backend import batch_augmenter as imgaug_augmenter

            imgaug_params = params.model_copy(update={"backend": "imgaug"})
            imgaug_rate = rate(
                make_tf_dataset(dataset, spec, augment=imgaug_augmenter(imgaug_params))
            )
            rows.append(
                (
                    "imgaug backend (parallel map)",
                    f"{imgaug_rate:7.0f} images/s  (tf/imgaug {tf_pipeline / imgaug_rate:.2f} ×)",
                )
            )
        else:
            rows.append(("imgaug backend", "not installed here (see `make test-imgaug` venv)"))
        batch = tf.random.uniform([args.batch, args.size, args.size, 3], 0, 255)
        for op, value in (
            ("flip_lr", True),
            ("flip_ud", True),
            ("gnoise", (0, 12.75)),
            ("scale", (0.8, 1.2)),
            ("rotate", (-22.5, 22.5)),
            ("bright", (0.75, 1.25)),
            ("colour_shift", (0.9, 1.1)),
            ("gblur", (0.5, 1.5)),
            ("avgblur", (3, 5)),
        ):
            single = config_from_any({op: value, "some_of": None})

            def make(params):  # close over params: tf.function traces only tensor arguments
                return tf.function(lambda x, s: augment_batch(x, s, params))

            fn = make(single)
            fn(batch, tf.constant([0, 0], tf.int64))
            samples = []
            for i in range(5):
                start = time.perf_counter()
                fn(batch, tf.constant([0, i + 1], tf.int64)).numpy()
                samples.append(args.batch / (time.perf_counter() - start))
            # A group op is applied to about half the images (0..1 ops of one): the cost users pay.
            rows.append((f"op alone: {op}", f"{statistics.median(samples):7.0f} images/s"))
    table(rows, "bench_augment")


if __name__ == "__main__":
    main()

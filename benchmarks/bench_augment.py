"""Augmentation cost in the training pipeline, in one run, with the seed's example configuration at
299×299: no augmentation, the tf backend (pipeline and model placements), the imgaug backend (when
installed, at full parallelism), each op alone, and the batch recipes (RandAugment, MixUp,
CutMix). Prints images/s, CPU time per image and ratios.

Method: each case is the repeated training pipeline as ``abyssexp train`` builds it, measured in
steady state (a fresh iterator, a few warm-up batches, then timed batches). The cases take turns
in rounds, in a shuffled order, and the ratios are computed within each round and reported as
medians, so that load from other tenants of a shared machine hits every case alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import in_rounds, table  # noqa: E402
from bench_pipeline import write_jpegs  # noqa: E402

SEED_CONFIG = (
    '{"some_of":None, "flip_lr":True, "flip_ud":True, "gblur":None, "avgblur":None,'
    '"gnoise":(0,0.05*255),"scale":(0.8, 1.2), "rotate":(-22.5, 22.5), "bright":(0.75,1.25),'
    '"colour_shift":(0.9,1.1)}'
)


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} ({fmt.format(low)}–{fmt.format(high)})"


def op_costs(params_for: Callable[[dict], object], size: tuple[int, int], path: Path) -> list:
    """Per-image cost of each op where applied, on one decoded 640×480 JPEG, resize included."""
    import tensorflow as tf

    from abyssexp.augmentation.tf_backend import image_augmenter_fn

    decoded = tf.io.decode_jpeg(tf.io.read_file(str(path)), channels=3, ratio=2)

    def cost(config: dict) -> float:
        augment = image_augmenter_fn(params_for(config), size)
        run = tf.function(lambda image, pair: augment(image, pair))
        pairs = [tf.constant([7, i], tf.int64) for i in range(300)]
        run(decoded, pairs[0])
        samples = []
        for _ in range(5):
            start = time.process_time()  # CPU time: less exposed to other tenants than wall time
            for pair in pairs:
                run(decoded, pair)
            samples.append(1000.0 * (time.process_time() - start) / len(pairs))
        return min(samples)  # interference only ever adds CPU time

    base = cost({})
    rows = [("op alone: none (resize only)", f"{base:5.2f} CPU ms per image")]
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
        # Alone, each op is drawn for half the images (a flip's coin, or some_of's 0..1).
        extra = 2.0 * (cost({op: value}) - base)
        rows.append((f"op alone: {op}", f"{extra:+5.2f} CPU ms per image it is applied to"))
    return rows


def recipe_costs(size: tuple[int, int], batch: int, repeats: int = 5) -> list:
    """CPU time per image of RandAugment, MixUp and CutMix on training batches, as the
    pipeline runs them (one batch at a time, after the seed's ops)."""
    import numpy as np
    import tensorflow as tf

    from abyssexp.augmentation.recipes import batch_recipes
    from abyssexp.schemas.params import AugmentationParams

    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch, *size, 3)), tf.float32)
    targets = tf.constant(np.eye(4, dtype=np.float32)[np.arange(batch) % 4])
    rows = []
    for name, config in (
        ("randaugment (2 ops, 0.5)", {"randaugment": {}}),
        ("mixup (alpha 0.2)", {"mixup": {}}),
        ("cutmix (alpha 1.0)", {"cutmix": {}}),
    ):
        recipes = batch_recipes(AugmentationParams.model_validate(config), seed=0)
        run = tf.function(recipes)
        run(images, targets, tf.constant([0, 0], tf.int64))
        samples = []
        for _ in range(repeats):
            start = time.process_time()
            for step in range(4):
                out = run(images, targets, tf.constant([1, step], tf.int64))
                out[0].numpy()
            samples.append(1000.0 * (time.process_time() - start) / (4 * batch))
        rows.append((f"recipe: {name}", f"{min(samples):5.2f} CPU ms per image"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=299)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=16, help="timed batches per measurement")
    parser.add_argument("--warmup", type=int, default=4, help="untimed batches per measurement")
    parser.add_argument("--no-ops", action="store_true", help="skip the per-op costs")
    parser.add_argument(
        "--recipes-only", action="store_true", help="only RandAugment, MixUp and CutMix"
    )
    args = parser.parse_args()
    if args.recipes_only:
        table(recipe_costs((args.size, args.size), args.batch), "bench_augment (recipes)")
        return

    import tensorflow as tf

    from abyssexp.augmentation import config_from_any
    from abyssexp.augmentation.tf_backend import batch_augmenter, image_augmenter_fn
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset
    from abyssexp.models.layers import SeedAugmentation

    params = config_from_any(SEED_CONFIG)
    size = (args.size, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = ImageClassificationDataset(write_jpegs(Path(tmp), args.images, 640, 480))
        spec = PipelineSpec(input_size=size, batch_size=args.batch, training=True, repeat=True)
        layer = SeedAugmentation(params.model_dump(mode="json"), seed=0)
        cases = {
            "pipeline, no augmentation": make_tf_dataset(dataset, spec),
            "tf backend, placement=pipeline": make_tf_dataset(
                dataset, spec, augment_image=image_augmenter_fn(params, size)
            ),
            "tf backend, batched ops in tf.data": make_tf_dataset(
                dataset, spec, augment=batch_augmenter(params)
            ),
            # placement=model measured as the layer's cost on this CPU (on a GPU it runs there).
            "tf backend, placement=model (on CPU)": make_tf_dataset(dataset, spec).map(
                lambda x, y: (layer(tf.cast(x, tf.float32), training=True), y)
            ),
        }
        has_imgaug = importlib.util.find_spec("imgaug") is not None
        if has_imgaug:
            from abyssexp.augmentation.imgaug_backend import batch_augmenter as imgaug_augmenter

            imgaug_params = params.model_copy(update={"backend": "imgaug"})
            cases["imgaug backend (parallel map)"] = make_tf_dataset(
                dataset, spec, augment=imgaug_augmenter(imgaug_params)
            )
        results = in_rounds(cases, args.rounds, args.warmup, args.batches)

        def rates(name: str) -> list[float]:
            return [rate for rate, _ in results[name]]

        plain = rates("pipeline, no augmentation")
        tf_pipeline = rates("tf backend, placement=pipeline")
        rows = [
            (
                "images → input",
                f"{args.images} JPEG 640×480 → {args.size}×{args.size}, batch {args.batch}, "
                f"{args.rounds} rounds of {args.batches} batches",
            )
        ]
        for name in cases:
            cpu = statistics.median(ms for _, ms in results[name])
            rows.append((name, f"{spread(rates(name)):>18} images/s, {cpu:.2f} CPU ms/image"))
        ratio = [a / b for a, b in zip(tf_pipeline, plain, strict=True)]
        rows.append(
            ("tf pipeline / no augmentation", f"{spread(ratio, '{:.2f}')} ×  (target ≥ 0.4)")
        )
        if has_imgaug:
            theirs = rates("imgaug backend (parallel map)")
            versus = [a / b for a, b in zip(tf_pipeline, theirs, strict=True)]
            rows.append(("tf pipeline / imgaug", f"{spread(versus, '{:.2f}')} ×  (target > 1)"))
        else:
            rows.append(("imgaug backend", "not installed here (see `make test-imgaug` venv)"))
        if not args.no_ops:
            first = Path(tmp) / "00000.jpg"
            rows += op_costs(
                lambda config: config_from_any({**config, "some_of": None}), size, first
            )
        rows += recipe_costs(size, args.batch)
    table(rows, "bench_augment")


if __name__ == "__main__":
    main()

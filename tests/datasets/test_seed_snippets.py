"""The original guide's Data Loading snippets, run as written with the package name swapped."""

from pathlib import Path

import numpy as np


def test_seed_pipeline_runs_as_written(shapes: dict[str, Path]) -> None:
    from types import SimpleNamespace

    import tensorflow as tf
    from keras.applications.xception import preprocess_input

    from abyssexp.datasets import (
        batching_gen,
        enforce_one_vs_all,
        lambda_gen,
        lamda_gen,
        multihot_gen,
    )

    args = SimpleNamespace(coco_path=str(shapes["train"]))
    image_shape = (32, 32, 3)
    NN_DTYPE = np.float32

    def resize(image, shape, preserve_range=True):  # the guide used skimage's resize
        return tf.image.resize(image, shape[:2]).numpy()

    # --- from the guide ---
    cat_map = {"3": 0, "7": 0, "11": 1, "12": 1, "20": 2, "31": 2}
    from abyssexp.datasets.translators import CategoryTranslator

    cat_translator = CategoryTranslator(mapping=cat_map)
    from abyssexp.datasets.coco import ImageClassificationDataset

    train_dataset = ImageClassificationDataset(args.coco_path, translator=cat_translator)
    dataset = train_dataset
    img, tgt = dataset.sample()

    def preprocess(image, caption):
        image = resize(image, image_shape, preserve_range=True)
        return preprocess_input(image.astype(NN_DTYPE)), caption

    generator = lamda_gen(dataset.generator(), func=preprocess)

    def pipeline(gen, num_classes, batch_size):
        return batching_gen(
            lambda_gen(
                multihot_gen(lambda_gen(gen, func=preprocess), num_classes=num_classes),
                func=enforce_one_vs_all,
            ),
            batch_size=batch_size,
        )

    num_classes, batch_size = 3, 4
    generator = pipeline(train_dataset.generator(), num_classes=num_classes, batch_size=batch_size)
    # --- end of the guide ---
    images, targets = next(generator)
    assert img.dtype == np.uint8 and img.ndim == 3 and tgt and all(0 <= t < 3 for t in tgt)
    assert images.shape == (4, 32, 32, 3) and images.dtype == np.float32
    assert -1.0 <= images.min() and images.max() <= 1.0
    assert targets.shape == (4, 3) and set(np.unique(targets)) <= {0.0, 1.0}


def test_batching_keeps_last_partial_batch() -> None:
    from abyssexp.datasets import batching_gen

    pairs = [(np.zeros(2), np.ones(1)) for _ in range(5)]
    sizes = [len(images) for images, _ in batching_gen(iter(pairs), batch_size=2)]
    assert sizes == [2, 2, 1]
    assert [len(i) for i, _ in batching_gen(iter(pairs), batch_size=2, drop_last=True)] == [2, 2]


def test_enforce_one_vs_all_background_configurable() -> None:
    from abyssexp.datasets import enforce_one_vs_all

    _, target = enforce_one_vs_all(None, np.array([1.0, 1.0, 0.0]))
    assert target.tolist() == [0.0, 1.0, 0.0]
    _, target = enforce_one_vs_all(None, np.array([1.0, 0.0, 1.0]), background_logit=2)
    assert target.tolist() == [1.0, 0.0, 0.0]
    _, target = enforce_one_vs_all(None, np.array([1.0, 0.0, 0.0]))
    assert target.tolist() == [1.0, 0.0, 0.0]

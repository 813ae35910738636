"""The tf.data path: targets, shuffling, caching and DCT downscaling."""

from pathlib import Path

import numpy as np
import pytest

from abyssexp.datasets.coco import ImageClassificationDataset


@pytest.fixture(scope="module")
def dataset(shapes) -> ImageClassificationDataset:
    return ImageClassificationDataset(shapes["val"])


def test_batches_and_targets(dataset) -> None:
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    ds = make_tf_dataset(dataset, PipelineSpec(input_size=(16, 16), batch_size=10))
    batches = list(ds)
    assert [len(x) for x, _ in batches] == [10, 10, 4]
    images, targets = batches[0]
    # uint8 images (the model casts them to float: a 4× smaller copy to an accelerator)
    assert images.shape == (10, 16, 16, 3) and images.dtype.name == "uint8"
    assert targets.dtype.name == "float32"
    np.testing.assert_array_equal(targets.numpy(), dataset.multihot()[:10])


def test_same_pixels_as_the_generator_path(dataset) -> None:
    import tensorflow as tf

    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset, resize_uint8

    ds = make_tf_dataset(
        dataset, PipelineSpec(input_size=(20, 20), batch_size=4, dct_scaling=False)
    )
    images, _ = next(iter(ds))
    for i in range(4):
        expected = resize_uint8(tf.constant(dataset.sample(i)[0]), (20, 20)).numpy()
        np.testing.assert_array_equal(images[i].numpy().astype(np.uint8), expected)


def test_seeded_shuffle_changes_every_epoch(dataset) -> None:
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    spec = PipelineSpec(input_size=(8, 8), batch_size=24, training=True, seed=5, repeat=True)
    it = iter(make_tf_dataset(dataset, spec))
    epoch1 = next(it)[1].numpy()
    epoch2 = next(it)[1].numpy()
    assert not np.array_equal(epoch1, epoch2)
    again = next(iter(make_tf_dataset(dataset, spec)))[1].numpy()
    np.testing.assert_array_equal(epoch1, again)


def test_cache_val_decodes_once(dataset, monkeypatch) -> None:
    import tensorflow as tf

    from abyssexp.datasets import pipeline

    calls = {"n": 0}
    original = pipeline.decode_image

    def counting(path, kind):
        def bump(x):
            calls["n"] += 1
            return x

        image = original(path, kind)
        return tf.ensure_shape(tf.numpy_function(bump, [image], tf.uint8), [None, None, 3])

    monkeypatch.setattr(pipeline, "decode_image", counting)
    spec = pipeline.PipelineSpec(input_size=(8, 8), batch_size=8, cache=True)
    ds = pipeline.make_tf_dataset(dataset, spec)
    first = [x.numpy() for x, _ in ds]
    assert calls["n"] == len(dataset)
    second = [x.numpy() for x, _ in ds]
    assert calls["n"] == len(dataset)  # the whole validation set came from the cache
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_dct_ratio_for_large_jpegs(tmp_path: Path) -> None:
    from PIL import Image

    from abyssexp.datasets.pipeline import decode_plan

    big = tmp_path / "big.jpg"
    Image.new("RGB", (640, 480)).save(big)
    small = tmp_path / "small.jpg"
    Image.new("RGB", (100, 100)).save(small)
    plan = decode_plan([big, small], (100, 100))
    assert plan.tolist() == [2, 0]  # 640×480 / 4 = 160×120 ≥ 100×100; small stays full size


def test_cached_training_set_still_reshuffles_every_epoch(dataset) -> None:
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    spec = PipelineSpec(
        input_size=(8, 8), batch_size=24, training=True, seed=5, repeat=True, cache=True
    )
    it = iter(make_tf_dataset(dataset, spec))
    first, second = next(it), next(it)
    assert not np.array_equal(first[1].numpy(), second[1].numpy())
    assert sorted(first[1].numpy().argmax(1).tolist()) == sorted(
        second[1].numpy().argmax(1).tolist()
    )


@pytest.mark.parametrize("cache", [False, True])
def test_augmented_training_batches(dataset, cache) -> None:
    """Without the cache, augmentation runs on the decoded file and resizes as it goes; with it,
    on the cached resized images. Either way each image is the plain one or its augmented
    version, the same seed gives the same batches, and every epoch draws anew."""
    from abyssexp.augmentation import config_from_any
    from abyssexp.augmentation.tf_backend import image_augmenter_fn
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    size = (12, 12)
    spec = PipelineSpec(
        input_size=size, batch_size=24, training=True, seed=3, repeat=True, cache=cache
    )
    augment = image_augmenter_fn(config_from_any({"bright": (0.5, 0.5)}), size)
    plain = next(iter(make_tf_dataset(dataset, spec)))
    run = iter(make_tf_dataset(dataset, spec, augment_image=augment))
    first, second = next(run), next(run)
    images, targets = first
    assert images.shape == (24, 12, 12, 3) and images.dtype.name == "float32"
    np.testing.assert_array_equal(targets.numpy(), plain[1].numpy())
    reference = plain[0].numpy()
    same = np.abs(images.numpy() - reference).max(axis=(1, 2, 3)) <= 0.5
    darker = np.abs(images.numpy() - reference / 2).max(axis=(1, 2, 3)) <= 0.75
    assert (same | darker).all() and same.any() and darker.any()
    again = next(iter(make_tf_dataset(dataset, spec, augment_image=augment)))
    np.testing.assert_array_equal(images.numpy(), again[0].numpy())
    assert not np.array_equal(first[1].numpy(), second[1].numpy())


def test_unreadable_images_stop_the_pipeline_before_decoding(tmp_path: Path) -> None:
    # Trust #14: tf.data would hand a 65000×65000 header to TensorFlow's decoder mid-epoch.
    from PIL import Image

    from abyssexp.datasets.pipeline import decode_plan
    from abyssexp.errors import DatasetError
    from tests.conftest import write_bomb_jpeg

    good = tmp_path / "good.jpg"
    Image.new("RGB", (16, 16)).save(good)
    bombs = [write_bomb_jpeg(tmp_path / f"bomb{i}.jpg") for i in range(7)]
    with pytest.raises(DatasetError) as info:
        decode_plan([good, *bombs], (8, 8))
    message = str(info.value)
    assert message.startswith(f"{bombs[0]}: image is 4225000000 pixels") and "\n" not in message
    assert (
        "7 image files fail: bomb0.jpg, bomb1.jpg, bomb2.jpg, bomb3.jpg, bomb4.jpg ... and 2 more"
        in message
    )

"""The imgaug backend (optional extra, numpy<2): runs in its own virtualenv via `make test-imgaug`."""

import numpy as np
import pytest

pytestmark = pytest.mark.imgaug
iaa = pytest.importorskip("imgaug.augmenters")

from abyssexp.augmentation import config_from_any  # noqa: E402

N = 256


def test_seed_mapping_onto_imgaug() -> None:
    from abyssexp.augmentation.imgaug_backend import build_imgaug_sequence

    params = config_from_any(
        '{"some_of":None, "flip_lr":True, "flip_ud":True, "gblur":None, "avgblur":None,'
        '"gnoise":(0,0.05*255),"scale":(0.8, 1.2), "rotate":(-22.5, 22.5), "bright":(0.75,1.25),'
        '"colour_shift":(0.9,1.1)}'
    )
    sequence = build_imgaug_sequence(params, seed=1)
    kinds = [type(a).__name__ for a in sequence]
    assert kinds == ["Fliplr", "Flipud", "SomeOf"]
    group = [type(a).__name__ for a in sequence[2]]
    assert group == ["AdditiveGaussianNoise", "Affine", "Affine", "Multiply", "Multiply"]


def _both(config, images):
    import tensorflow as tf

    from abyssexp.augmentation.imgaug_backend import build_imgaug_sequence
    from abyssexp.augmentation.tf_backend import augment_batch

    params = config_from_any(config)
    ours = augment_batch(
        tf.constant(images, tf.float32), tf.constant([1, 2], tf.int64), params
    ).numpy()
    theirs = np.asarray(
        build_imgaug_sequence(params, seed=1).augment_images(images.astype(np.uint8)), np.float32
    )
    return ours, theirs


def test_backends_agree_on_flips() -> None:
    ramp = np.broadcast_to(
        np.arange(16, dtype=np.float32)[None, None, :, None] * 10, (N, 16, 16, 3)
    ).copy()
    ours, theirs = _both({"flip_lr": True}, ramp)
    a = (ours[:, 0, 0, 0] > ours[:, 0, -1, 0]).mean()
    b = (theirs[:, 0, 0, 0] > theirs[:, 0, -1, 0]).mean()
    assert abs(a - b) < 0.15 and 0.35 < b < 0.65


def test_backends_agree_on_noise_and_brightness() -> None:
    flat = np.full((N, 24, 24, 3), 128.0, np.float32)
    ours, theirs = _both({"gnoise": (5, 15)}, flat)
    std_ours = (ours - 128).std(axis=(1, 2, 3))
    std_theirs = (theirs - 128).std(axis=(1, 2, 3))
    assert abs((std_ours > 1).mean() - (std_theirs > 1).mean()) < 0.15
    assert abs(std_ours[std_ours > 1].mean() - std_theirs[std_theirs > 1].mean()) < 1.5
    ours, theirs = _both({"bright": (0.5, 0.8)}, np.full((N, 8, 8, 3), 100.0, np.float32))
    f_ours = ours[:, 0, 0, 0] / 100
    f_theirs = theirs[:, 0, 0, 0] / 100
    changed_ours = f_ours[np.abs(f_ours - 1) > 0.01]
    changed_theirs = f_theirs[np.abs(f_theirs - 1) > 0.01]
    assert abs(changed_ours.mean() - changed_theirs.mean()) < 0.03


def test_imgaug_in_the_tf_pipeline(shapes) -> None:
    from abyssexp.augmentation.imgaug_backend import batch_augmenter
    from abyssexp.datasets.coco import ImageClassificationDataset
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    params = config_from_any({"backend": "imgaug", "flip_lr": True, "gnoise": (5, 10)})
    dataset = ImageClassificationDataset(shapes["train"])
    spec = PipelineSpec(input_size=(32, 32), batch_size=8, training=True, seed=1)
    images, targets = next(iter(make_tf_dataset(dataset, spec, augment=batch_augmenter(params))))
    assert images.shape == (8, 32, 32, 3) and targets.shape == (8, 6)

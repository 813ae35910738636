"""Statistical tests of the in-graph augmentation, one per key, on synthetic images."""

import numpy as np
import pytest

from abyssexp.augmentation import config_from_any
from abyssexp.errors import InvalidInputError

N = 256
SEED_STRING = (
    '{"some_of":None, "flip_lr":True, "flip_ud":True, "gblur":None, "avgblur":None,'
    '"gnoise":(0,0.05*255),"scale":(0.8, 1.2), "rotate":(-22.5, 22.5), "bright":(0.75,1.25),'
    '"colour_shift":(0.9,1.1)}'
)


IMPLEMENTATION = {"name": "batch"}


@pytest.fixture(autouse=True, params=["batch", "image", "image-bank", "fused"])
def implementation(request):
    """Every statistical test runs against the batched ops (placement: model), the per-image ops
    of the tf.data map (placement: pipeline), the latter with its noise bank, and the latter fed
    the decoded file (here: the image stretched 2× down and 3× across), resizing as it augments."""
    IMPLEMENTATION["name"] = request.param
    yield request.param
    IMPLEMENTATION["name"] = "batch"


def _run(config, images, seed=(1, 2)):
    import tensorflow as tf

    from abyssexp.augmentation.tf_backend import augment_batch, augment_image, noise_bank

    params = config_from_any(config)
    batch = tf.constant(images, tf.float32)
    pair = tf.constant(seed, tf.int64)
    if IMPLEMENTATION["name"] == "batch":
        return augment_batch(batch, pair, params).numpy()
    seeds = tf.random.experimental.stateless_split(pair, len(images))
    bank = None
    if IMPLEMENTATION["name"] in ("image-bank", "fused") and params.gnoise is not None:
        bank = noise_bank(images.shape[1], images.shape[2])
    size = None
    if IMPLEMENTATION["name"] == "fused":
        size = (images.shape[1], images.shape[2])
        # Half-pixel bilinear resizing recovers these stretched images exactly.
        batch = tf.constant(np.repeat(np.repeat(images, 2, axis=1), 3, axis=2), tf.float32)

    def one(args):
        return augment_image(args[0], args[1], params, bank, size)

    run = tf.function(lambda b, s: tf.map_fn(one, (b, s), fn_output_signature=tf.float32))
    return run(batch, seeds).numpy()


def _flat(value=100.0, size=24):
    return np.full((N, size, size, 3), value, np.float32)


@pytest.mark.slow  # TensorFlow graphs for seconds (the batch form 3.7 s)
def test_seed_string_verbatim_is_accepted() -> None:
    params = config_from_any(SEED_STRING)
    assert params.gnoise == (0.0, 12.75) and params.some_of is None and params.enabled
    out = _run(SEED_STRING, np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)))
    assert out.shape == (8, 32, 32, 3) and out.min() >= 0 and out.max() <= 255


def test_unknown_keys_and_bad_ranges_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="augmentation.blur: unknown field"):
        config_from_any({"blur": (1, 2)})
    with pytest.raises(InvalidInputError, match="augmentation.gnoise"):
        config_from_any({"gnoise": (0, 300)})
    with pytest.raises(InvalidInputError, match="names are not allowed"):
        config_from_any("{'gnoise': (0, x)}")


def test_flips_happen_about_half_the_time() -> None:
    ramp = np.broadcast_to(
        np.arange(16, dtype=np.float32)[None, None, :, None] * 10, (N, 16, 16, 3)
    ).copy()
    out = _run({"flip_lr": True}, ramp)
    flipped = (out[:, 0, 0, 0] > out[:, 0, -1, 0]).mean()
    assert 0.4 < flipped < 0.6
    ramp_ud = np.transpose(ramp, (0, 2, 1, 3)).copy()
    out = _run({"flip_ud": True}, ramp_ud)
    assert 0.4 < (out[:, 0, 0, 0] > out[:, -1, 0, 0]).mean() < 0.6


def _bar_images(size=48):
    images = np.zeros((N, size, size, 3), np.float32)
    images[:, size // 2 - 2 : size // 2 + 2, 8:-8, :] = 255.0
    return images


def _angle(image):
    ys, xs = np.nonzero(image[..., 0] > 127)
    cov = np.cov(np.stack([xs - xs.mean(), ys - ys.mean()]))
    vx, vy = np.linalg.eigh(cov)[1][:, -1]
    angle = np.degrees(np.arctan2(vy, vx))
    return (angle + 90) % 180 - 90


def test_rotation_stays_in_range_and_some_of_applies_it_to_a_subset() -> None:
    out = _run({"rotate": (10, 20)}, _bar_images())
    angles = np.abs([_angle(image) for image in out])
    rotated = angles > 2
    assert 0.35 < rotated.mean() < 0.65  # 0..1 ops per image: about half get it
    assert angles[rotated].min() >= 9 and angles[rotated].max() <= 21


def test_scale_stays_in_range() -> None:
    images = np.zeros((N, 64, 64, 3), np.float32)
    images[:, 22:42, 22:42, :] = 255.0  # a 20×20 square in the middle
    out = _run({"scale": (1.1, 1.4)}, images)
    side = np.sqrt((out[..., 0] > 127).sum(axis=(1, 2)))
    zoom = side / 20.0
    changed = np.abs(zoom - 1) > 0.03
    assert 0.35 < changed.mean() < 0.65
    assert zoom[changed].min() > 1.05 and zoom[changed].max() < 1.45


def test_noise_std_and_brightness_land_in_range() -> None:
    out = _run({"gnoise": (5, 15)}, _flat(128.0))
    std = (out - 128.0).std(axis=(1, 2, 3))
    noisy = std > 1
    assert std[noisy].min() > 4.5 and std[noisy].max() < 15.5
    out = _run({"bright": (0.5, 0.8)}, _flat(100.0))
    factor = out[:, 0, 0, :] / 100.0
    changed = np.abs(factor[:, 0] - 1) > 1e-3
    assert factor[changed].min() >= 0.5 - 1e-4 and factor[changed].max() <= 0.8 + 1e-4
    np.testing.assert_allclose(factor[:, 0], factor[:, 2])  # brightness: all channels alike


def test_colour_shift_changes_channels_independently() -> None:
    out = _run({"colour_shift": (0.8, 1.2)}, _flat(100.0))
    gains = out[:, 0, 0, :] / 100.0
    changed = np.abs(gains - 1).max(axis=1) > 1e-3
    g = gains[changed]
    assert g.min() >= 0.8 - 1e-4 and g.max() <= 1.2 + 1e-4
    assert (np.ptp(g, axis=1) > 0.01).mean() > 0.9
    correlation = np.corrcoef(g[:, 0], g[:, 1])[0, 1]
    assert abs(correlation) < 0.3


def test_some_of_bounds_the_number_of_ops() -> None:
    config = {"some_of": 1, "gnoise": (20, 20), "bright": (0.5, 0.5), "colour_shift": (1.5, 1.5)}
    out = _run(config, _flat(100.0))
    noise = (out - out.mean(axis=(1, 2), keepdims=True)).std(axis=(1, 2, 3)) > 5
    mean = out.mean(axis=(1, 2))
    bright = np.isclose(mean, 50.0, atol=2).all(axis=1)
    colour = np.isclose(mean, 150.0, atol=2).all(axis=1) & ~noise
    applied = noise.astype(int) + bright + colour
    assert applied.max() <= 1
    assert (applied == 0).mean() > 0.3  # 0..1 ops: about half get none
    both = _run({**config, "some_of": None}, _flat(100.0))
    assert (np.abs(both.mean(axis=(1, 2)) - 75.0) < 3).all(axis=1).any()  # bright then colour


def test_blurs_smooth_and_keep_the_mean() -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (N, 32, 32, 3)).astype(np.float32)
    for config in ({"gblur": (1.0, 2.0)}, {"avgblur": (3, 5)}):
        out = _run(config, images)
        roughness = np.abs(np.diff(out, axis=2)).mean(axis=(1, 2, 3))
        blurred = roughness < np.abs(np.diff(images, axis=2)).mean() * 0.8
        assert 0.35 < blurred.mean() < 0.65
        np.testing.assert_allclose(out[blurred].mean(), images[blurred].mean(), rtol=0.02)


def test_same_seed_same_output() -> None:
    images = np.random.default_rng(1).uniform(0, 255, (16, 32, 32, 3))
    a = _run(SEED_STRING, images, seed=(5, 6))
    b = _run(SEED_STRING, images, seed=(5, 6))
    c = _run(SEED_STRING, images, seed=(5, 7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generator_pipeline_augmentation_gen(shapes) -> None:
    from abyssexp.datasets import augmentation_gen
    from abyssexp.datasets.coco import ImageClassificationDataset

    dataset = ImageClassificationDataset(shapes["train"])
    gen = augmentation_gen(dataset.generator(shuffle=False), aug_config=SEED_STRING, enable=True)
    image, labels = next(gen)
    original, same_labels = dataset.sample(0)
    assert image.dtype == np.uint8 and image.shape == original.shape and labels == same_labels
    passthrough = next(
        augmentation_gen(dataset.generator(shuffle=False), aug_config=SEED_STRING, enable=False)
    )
    np.testing.assert_array_equal(passthrough[0], original)


def test_imgaug_missing_is_one_line(monkeypatch) -> None:
    import builtins

    from abyssexp.augmentation.imgaug_backend import build_imgaug_sequence
    from abyssexp.errors import OptionalDependencyError

    real_import = builtins.__import__

    def no_imgaug(name, *args, **kwargs):
        if name.startswith("imgaug"):
            raise ImportError("No module named 'imgaug'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_imgaug)
    with pytest.raises(OptionalDependencyError, match=r"pip install 'abyssexp\[imgaug\]'"):
        build_imgaug_sequence(config_from_any({"flip_lr": True, "backend": "imgaug"}))


def test_preview_png(runner, shapes, tmp_path) -> None:
    from PIL import Image

    from abyssexp.cli import app

    target = tmp_path / "preview.png"
    result = runner.invoke(
        app,
        [
            "augment",
            "preview",
            "--coco",
            str(shapes["train"]),
            "--augmentation-configuration",
            SEED_STRING,
            "--out",
            str(target),
            "--images",
            "3",
            "--versions",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 400
    bad = runner.invoke(
        app,
        [
            "augment",
            "preview",
            "--coco",
            str(shapes["train"]),
            "--augmentation-configuration",
            "{'rotate': open('x')}",
        ],
    )
    assert bad.exit_code == 2 and "function calls are not allowed" in bad.output


def test_model_placement_layer_only_in_training() -> None:
    import tensorflow as tf

    from abyssexp.models.layers import SeedAugmentation

    layer = SeedAugmentation({"gnoise": (10, 10), "some_of": None}, seed=3)
    images = tf.fill([4, 16, 16, 3], 100.0)
    np.testing.assert_array_equal(layer(images, training=False).numpy(), images.numpy())
    trained = layer(images, training=True).numpy()
    assert not np.array_equal(trained, images.numpy())


def test_bank_noise_is_gaussian_within_an_image_and_varies_between_images() -> None:
    import tensorflow as tf

    from abyssexp.augmentation.tf_backend import bank_noise, noise_bank

    bank = noise_bank(40, 40, seed=3)
    first = bank_noise(bank, tf.constant([0.1, 0.2, 0.3, 0.4, 0.6]), 40, 40).numpy()
    second = bank_noise(bank, tf.constant([0.1, 0.2, 0.5, 0.4, 0.6]), 40, 40).numpy()
    last = bank_noise(bank, tf.constant([0.999] * 5), 40, 40).numpy()  # the far corner fits
    assert last.shape == (40, 40, 3)
    assert first.shape == (40, 40, 3)
    assert abs(first.mean()) < 0.05 and abs(first.std() - 1) < 0.05
    assert abs(np.mean(first**4) / np.mean(first**2) ** 2 - 3) < 0.3  # Gaussian kurtosis
    assert abs(np.corrcoef(first[..., 0].ravel(), first[..., 1].ravel())[0, 1]) < 0.05
    assert not np.array_equal(first, second)


def test_zoom_without_rotation_matches_the_affine_warp() -> None:
    import tensorflow as tf

    from abyssexp.augmentation.tf_backend import affine_warp, zoom_about_centre

    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32)
    smooth = np.stack([127 + 100 * np.sin(xs / 9.0 + ys / 13.0)] * 3, axis=-1)[None]
    for zoom in (0.8, 0.93, 1.0, 1.07, 1.2):
        warped = affine_warp(smooth, tf.constant([zoom]), tf.zeros([1]), 0.0).numpy()[0]
        resized = zoom_about_centre(tf.constant(smooth), zoom, (128, 128), 0.0).numpy()[0]
        inner = slice(int(64 - 60 * min(zoom, 1)), int(64 + 60 * min(zoom, 1)))
        difference = np.abs(warped - resized)[inner, inner]
        assert np.median(difference) < 2.0, zoom


def test_fused_resampling_matches_resize_then_augment() -> None:
    """Augmenting the decoded file at its own size equals resizing it first, up to the second
    interpolation the fused version saves (smooth images, so that is small)."""
    import tensorflow as tf

    from abyssexp.augmentation.tf_backend import augment_image

    params = config_from_any({"flip_lr": True, "flip_ud": True, "rotate": (-30, 30)})
    ys, xs = np.mgrid[0:60, 0:90].astype(np.float32)
    source = np.stack(
        [
            127 + 100 * np.sin(xs / 15.0) * np.cos(ys / 12.0),
            127 + 100 * np.cos(xs / 20.0 + ys / 17.0),
            xs + ys,
        ],
        axis=-1,
    )
    resized = tf.image.resize(source, (40, 40))
    for i in range(24):
        pair = tf.constant([3, i], tf.int64)
        fused = augment_image(tf.constant(source), pair, params, None, (40, 40)).numpy()
        twice = augment_image(resized, pair, params).numpy()
        difference = np.abs(fused - twice)[4:-4, 4:-4]
        assert np.median(difference) < 1.0 and np.percentile(difference, 95) < 4.0, i


def test_composed_transform_is_resize_flip_zoom_rotate_in_one() -> None:
    """On a linear ramp bilinear sampling is exact, so one warp with the composed transform must
    equal resize → flip → zoom and rotate wherever both read inside the image."""
    import tensorflow as tf

    from abyssexp.augmentation.tf_backend import affine_warp, resampling_transform

    ys, xs = np.mgrid[0:60, 0:90].astype(np.float32)
    ramp = np.stack([xs + 2 * ys, np.ones_like(xs), 3 * xs - ys], axis=-1)[None]
    out = (40, 50)
    rng = np.random.default_rng(0)
    for _ in range(16):
        zoom, angle = rng.uniform(0.8, 1.2), rng.uniform(-30, 30)
        flip_lr, flip_ud = bool(rng.integers(2)), bool(rng.integers(2))
        transform = resampling_transform(
            tf.constant([60, 90]), out, tf.constant(zoom), tf.constant(angle), flip_lr, flip_ud
        )
        fused = tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.constant(ramp),
            transforms=transform,
            output_shape=out,
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        ).numpy()[0]
        stepwise = tf.image.resize(ramp, out).numpy()
        if flip_lr:
            stepwise = stepwise[:, :, ::-1]
        if flip_ud:
            stepwise = stepwise[:, ::-1]
        stepwise = affine_warp(stepwise, tf.constant([zoom]), tf.constant([angle]), 0.0).numpy()[0]
        inside = (fused[..., 1] > 0.9999) & (stepwise[..., 1] > 0.9999)  # read no fill
        assert inside.mean() > 0.4
        np.testing.assert_allclose(fused[inside], stepwise[inside], atol=0.02)

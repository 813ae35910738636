"""``ImageClassifier``: the seed's snippets, backbones, weights, regularisation, BN momentum."""

from pathlib import Path

import numpy as np
import pytest

from abyssexp.errors import InvalidInputError, OptionalDependencyError


@pytest.mark.slow
def test_seed_constructor_as_written_and_fit_generator(shapes, tmp_path: Path) -> None:
    from abyssexp import ImageClassifier
    from abyssexp.datasets import batching_gen, lambda_gen, multihot_gen
    from abyssexp.datasets.coco import ImageClassificationDataset

    num_classes = 6
    image_shape = (32, 32, 3)

    class Args:
        lr = 1e-3
        batch_size = 8
        epochs = 1

    args = Args()
    classifier = ImageClassifier(
        backbone="mobilenet",
        output_activation="softmax",
        pooling="avg",
        classes=num_classes,
        input_shape=tuple(image_shape),
        init_weights="none",
        init_epoch=0,
        init_lr=args.lr,
        trainable=True,
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        gpus=1,
        l12_reg=(None, 0.01),
    )
    train_dataset = ImageClassificationDataset(shapes["train"])

    def preprocess(image, caption):
        return image.astype(np.float32), caption

    def pipeline(gen, num_classes, batch_size):
        return batching_gen(
            multihot_gen(lambda_gen(gen, func=preprocess), num_classes=num_classes),
            batch_size=batch_size,
        )

    history = classifier.fit_generator(
        generator=pipeline(
            train_dataset.generator(), num_classes=num_classes, batch_size=args.batch_size
        ),
        steps_per_epoch=2,
        validation_data=pipeline(
            train_dataset.generator(), num_classes=num_classes, batch_size=args.batch_size
        ),
        validation_steps=1,
        epochs=args.epochs,
        verbose=0,
        shuffle=True,
        callbacks=[],
        use_multiprocessing=True,
        workers=2,
    )
    assert "val_loss" in history.history
    path = classifier.save(tmp_path / "checkpoint.h5")
    loaded = ImageClassifier.load(str(path))
    assert loaded.classes == 6 and loaded.output_activation == "softmax"
    assert loaded.backbone == "mobilenet"
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), classifier.predict(x, verbose=0), atol=1e-5
    )


@pytest.mark.slow
def test_l12_reg_really_regularises() -> None:
    import keras

    from abyssexp import ImageClassifier

    x = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    y = np.eye(2)[[0, 1, 0, 1]].astype(np.float32)
    plain = ImageClassifier(
        backbone="mobilenet", classes=2, input_shape=(32, 32, 3), init_weights="none", l12_reg=None
    )
    regularised = ImageClassifier(
        backbone="mobilenet",
        classes=2,
        input_shape=(32, 32, 3),
        init_weights="none",
        l12_reg=(None, 0.01),
    )
    regularised.model.set_weights(plain.model.get_weights())
    assert not plain.model.losses and len(regularised.model.losses) > 10
    term = float(sum(keras.ops.convert_to_numpy(loss) for loss in regularised.model.losses))
    weights = [w for w in regularised.model.trainable_weights if "kernel" in w.path]
    expected = 0.01 * sum(float(np.sum(np.square(w.numpy()))) for w in weights)
    assert term == pytest.approx(expected, rel=1e-4)
    gap = (
        regularised.evaluate(x, y, verbose=0, return_dict=True)["loss"]
        - plain.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    )
    assert gap == pytest.approx(term, rel=1e-3)


def test_scratch_models_get_bn_momentum_09() -> None:
    import keras

    from abyssexp import ImageClassifier
    from abyssexp.training.callbacks import batch_norm_layers

    scratch = ImageClassifier(
        backbone="mobilenet", classes=2, input_shape=(32, 32, 3), init_weights="none"
    )
    momenta = {layer.momentum for layer in batch_norm_layers(scratch.model)}
    assert momenta == {0.9}
    explicit = ImageClassifier(
        backbone="mobilenet",
        classes=2,
        input_shape=(32, 32, 3),
        init_weights="none",
        bn_momentum=0.5,
    )
    assert {layer.momentum for layer in batch_norm_layers(explicit.model)} == {0.5}
    assert isinstance(batch_norm_layers(scratch.model)[0], keras.layers.BatchNormalization)


def test_trainable_head_and_patterns() -> None:
    from abyssexp import ImageClassifier
    from abyssexp.models.classifier import backbone_of

    head = ImageClassifier(
        backbone="mobilenet",
        classes=2,
        input_shape=(32, 32, 3),
        init_weights="none",
        trainable="head",
    )
    assert {w.path.split("/")[0] for w in head.model.trainable_weights} == {"head_dense"}
    some = ImageClassifier(
        backbone="mobilenet",
        classes=2,
        input_shape=(32, 32, 3),
        init_weights="none",
        trainable=["conv_pw_13*"],
    )
    trainable = [
        layer.name for layer in backbone_of(some.model).layers if layer.trainable and layer.weights
    ]
    assert trainable and all(name.startswith("conv_pw_13") for name in trainable)


@pytest.mark.slow
def test_weights_file_and_warm_start(tmp_path: Path) -> None:
    from abyssexp import ImageClassifier
    from abyssexp.models.classifier import backbone_of

    source = ImageClassifier(
        backbone="mobilenet", classes=3, input_shape=(32, 32, 3), init_weights="none"
    )
    checkpoint = source.save(tmp_path / "source.keras")
    same = ImageClassifier(
        backbone="mobilenet", classes=3, input_shape=(32, 32, 3), init_weights=str(checkpoint)
    )
    for a, b in zip(same.model.get_weights(), source.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other = ImageClassifier(
        backbone="mobilenet", classes=5, input_shape=(32, 32, 3), init_weights=str(checkpoint)
    )
    np.testing.assert_array_equal(
        backbone_of(other.model).get_weights()[0], backbone_of(source.model).get_weights()[0]
    )
    assert other.model.output_shape[-1] == 5
    backbone_file = tmp_path / "backbone.weights.h5"
    backbone_of(source.model).save_weights(backbone_file)
    from_file = ImageClassifier(
        backbone="mobilenet", classes=2, input_shape=(32, 32, 3), init_weights=str(backbone_file)
    )
    np.testing.assert_array_equal(
        backbone_of(from_file.model).get_weights()[0], backbone_of(source.model).get_weights()[0]
    )
    with pytest.raises(InvalidInputError, match="not found"):
        ImageClassifier(
            backbone="mobilenet",
            classes=2,
            input_shape=(32, 32, 3),
            init_weights=str(tmp_path / "nope.h5"),
        )


def test_offline_imagenet_is_one_clear_line(monkeypatch, tmp_path: Path) -> None:
    from abyssexp import ImageClassifier

    monkeypatch.setenv("HOME", str(tmp_path))  # an empty Keras cache
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / ".keras"))
    with pytest.raises(OptionalDependencyError) as info:
        ImageClassifier(
            backbone="mobilenet", classes=2, input_shape=(128, 128, 3), init_weights="imagenet"
        )
    message = str(info.value)
    assert (
        "mobilenet_1_0_128_tf_no_top.h5" in message
        and ".keras/models" in message
        and "none" in message
    )


def test_every_backbone_has_its_own_preprocessing() -> None:
    from abyssexp.models.backbones import BACKBONES, list_backbones, preprocess_function

    names = {spec.name for spec in list_backbones()}
    for required in (
        "xception",
        "resnet50",
        "resnet101v2",
        "inceptionv3",
        "inceptionresnetv2",
        "mobilenetv3large",
        "efficientnetb7",
        "efficientnetv2s",
        "densenet201",
        "convnexttiny",
        "nasnetmobile",
        "vgg19",
    ):
        assert required in names
    assert [s.name for s in list_backbones("efficientnetb*")] == [
        f"efficientnetb{i}" for i in range(8)
    ]
    x = np.full((1, 4, 4, 3), 255.0, np.float32)
    assert float(np.asarray(preprocess_function("xception")(x.copy())).max()) == pytest.approx(1.0)
    assert float(
        np.asarray(preprocess_function("resnet50")(x.copy()))[0, 0, 0, 0]
    ) == pytest.approx(255 - 103.939)
    assert BACKBONES["xception"].input_size == 299 and BACKBONES["efficientnetb3"].input_size == 300

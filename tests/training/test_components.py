"""Losses, schedules, optimizers, BN recompute and record status: checked against hand computations."""

import math
import time

import numpy as np
import pytest

from abyssexp.errors import InvalidInputError


def test_class_weighted_losses_match_hand_computation() -> None:
    from abyssexp.models.losses import ClassWeightedCrossentropy

    y_true = np.array([[1, 0, 0], [0, 0.5, 0.5]], np.float32)
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    weights = [2.0, 1.0, 0.5]
    loss = ClassWeightedCrossentropy("categorical", weights)
    per_sample = [2.0 * -math.log(0.7), 0.5 * 1.0 * -math.log(0.3) + 0.5 * 0.5 * -math.log(0.6)]
    assert float(loss(y_true, y_pred)) == pytest.approx(np.mean(per_sample), rel=1e-5)
    multilabel = np.array([[1, 0, 1]], np.float32)
    scores = np.array([[0.9, 0.2, 0.4]], np.float32)
    binary = ClassWeightedCrossentropy("binary", weights)
    terms = [2.0 * -math.log(0.9), 1.0 * -math.log(0.8), 0.5 * -math.log(0.4)]
    assert float(binary(multilabel, scores)) == pytest.approx(np.mean(terms), rel=1e-5)
    focal = ClassWeightedCrossentropy("binary", None, focal_gamma=2.0)
    focal_terms = [(0.1**2) * -math.log(0.9), (0.2**2) * -math.log(0.8), (0.6**2) * -math.log(0.4)]
    assert float(focal(multilabel, scores)) == pytest.approx(np.mean(focal_terms), rel=1e-5)


def test_make_loss_choices() -> None:
    from abyssexp.models.losses import ClassWeightedCrossentropy, make_loss

    assert make_loss("auto", "softmax") == "categorical_crossentropy"
    assert make_loss("auto", "sigmoid") == "binary_crossentropy"
    assert isinstance(make_loss("focal", "sigmoid"), ClassWeightedCrossentropy)
    assert make_loss("auto", "sigmoid", [1.0, 2.0]).mode == "binary"
    with pytest.raises(InvalidInputError, match="needs output_activation softmax"):
        make_loss("categorical_crossentropy", "sigmoid")


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("step", {"step_size": 2, "gamma": 0.5}, lambda e: 0.1 * 0.5 ** (e // 2)),
        ("exp", {"gamma": 0.9}, lambda e: 0.1 * 0.9**e),
        (
            "cosine",
            {"min_lr": 0.01},
            lambda e: 0.01 + (0.1 - 0.01) * 0.5 * (1 + math.cos(math.pi * e / 8)),
        ),
        (
            "cyclic",
            {"base_lr": 0.01, "max_lr": 0.1, "step_size": 2},
            lambda e: [0.01, 0.055, 0.1, 0.055, 0.01][e % 4] if e % 4 < 4 else 0,
        ),
    ],
)
def test_schedules(name, params, expected) -> None:
    from abyssexp.models.schedules import make_schedule

    steps = 10
    schedule = make_schedule(name, 0.1, params, steps_per_epoch=steps, epochs=8)
    for epoch in range(4):
        assert float(schedule(epoch * steps)) == pytest.approx(expected(epoch), rel=1e-4)


def test_schedule_and_optimizer_arguments_are_checked() -> None:
    from abyssexp.models.optimizers import make_optimizer
    from abyssexp.models.schedules import make_schedule

    with pytest.raises(InvalidInputError, match="step has no parameter"):
        make_schedule("step", 0.1, {"decay": 3}, 10, 5)
    optimizer = make_optimizer("sgd", 0.01, {"momentum": 0.9})  # the seed's example
    assert optimizer.momentum == 0.9 and type(optimizer).__name__ == "SGD"
    assert type(make_optimizer("RMSprop", 0.01, {})).__name__ == "RMSprop"
    with pytest.raises(InvalidInputError, match="unknown optimizer 'sgdd'"):
        make_optimizer("sgdd", 0.01)
    with pytest.raises(InvalidInputError, match="use training.lr"):
        make_optimizer("adam", 0.01, {"learning_rate": 1})


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        ("plateau", {"factor": 1.5}, "factor: 1.5 is not a number from 0 to below 1"),
        ("plateau", {"factor": "abc"}, "factor: 'abc' is not a number from 0 to below 1"),
        ("plateau", {"patience": -1}, "patience: -1 is not a number of epochs, 0 or more"),
        ("step", {"step_size": 0.5}, "step_size: 0.5 is not a number of epochs, 1 or more"),
        ("exp", {"gamma": 0}, "gamma: 0 is not a number above 0"),
        ("cosine", {"min_lr": float("nan")}, "min_lr: nan is not a number, 0 or more"),
        ("cyclic", {"max_lr": -1}, "max_lr: -1 is not a number above 0"),
    ],
)
def test_schedule_values_out_of_range_are_refused_before_anything_is_built(
    name, params, says
) -> None:
    """They raised a ValueError (ReduceLROnPlateau's factor) or trained a nonsense schedule once
    the model was built; now one line at planning, with an example."""
    from abyssexp.models.compile_options import check_schedule_params

    with pytest.raises(InvalidInputError) as raised:
        check_schedule_params(name, params)
    assert says in str(raised.value) and "e.g. --set 'training.lr_schedule_params={" in str(
        raised.value
    )
    # what runs trained with before the check still reads (read as the schedule reads it)
    check_schedule_params("plateau", {"factor": 0, "patience": 0, "min_lr": 0})
    check_schedule_params("step", {"step_size": 2.5, "gamma": True})
    check_schedule_params("cyclic", {"base_lr": 0, "max_lr": "0.01", "step_size": "10"})


def test_recompute_batch_norm_gives_exact_batch_statistics_from_its_epochs_batches() -> None:
    import keras

    from abyssexp.training.callbacks import RecomputeBatchNorm

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(momentum=0.99)])
    rng = np.random.default_rng(0)
    batches = [(rng.normal(3.0, 2.0, (64, 4)).astype(np.float32), None) for _ in range(9)]
    asked: list[int] = []

    def stream(start: int) -> list:
        asked.append(start)
        return batches[start:]

    callback = RecomputeBatchNorm(stream, batches=3, first_epoch=0)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_begin(1)  # a run resumed after epoch 1: epoch 2's batches, 4 to 6
    callback.on_test_begin()
    callback.on_epoch_begin(2)  # the next epoch reads on, from the same reader
    callback.on_test_begin()
    assert asked == [3]
    layer = model.layers[0]
    data = np.concatenate([b for b, _ in batches[6:9]])
    np.testing.assert_allclose(layer.moving_mean.numpy(), data.mean(axis=0), rtol=1e-4)
    per_batch_var = np.mean([b.var(axis=0) for b, _ in batches[6:9]], axis=0)
    np.testing.assert_allclose(layer.moving_variance.numpy(), per_batch_var, rtol=1e-3)
    assert layer.momentum == 0.99


def test_stale_heartbeat_and_dead_process_are_crashed() -> None:
    import socket

    from abyssexp.experiment.record_file import effective_status

    now = time.time()
    alive = {"status": "running", "pid": 1, "host": "elsewhere", "heartbeat_unix": now}
    assert effective_status(alive, now) == "running"
    assert effective_status({**alive, "heartbeat_unix": now - 3600}, now) == "crashed"
    dead = {
        "status": "running",
        "pid": 999_999_999,
        "host": socket.gethostname(),
        "heartbeat_unix": now,
    }
    assert effective_status(dead, now) == "crashed"
    assert effective_status({"status": "completed"}, now) == "completed"

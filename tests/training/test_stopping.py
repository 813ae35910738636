"""The plateau and early-stopping counts continue across a resume: a resumed phase's finished
epochs fed back make the callbacks do what they did in the uninterrupted run, epoch by epoch."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from abyssexp.training.phases import first_epoch_of_phase
from abyssexp.training.stopping import PastEpoch, past_epochs


def _model(lr: float) -> Any:
    """What the callbacks use of a model: its optimizer (a real one) and ``stop_training``."""
    import keras

    return SimpleNamespace(optimizer=keras.optimizers.SGD(learning_rate=lr), stop_training=False)


def _callbacks(kind: str, patience: int, mode: str, past: list[PastEpoch]) -> Any:
    from abyssexp.training.stopping import ResumedEarlyStopping, ResumedPlateau

    if kind == "plateau":
        return ResumedPlateau(
            past, monitor="val_loss", mode=mode, patience=patience, factor=0.5, min_lr=0.02
        )
    return ResumedEarlyStopping(past, monitor="val_loss", mode=mode, patience=patience)


def _run(callback: Any, model: Any, values: list[float], first: int) -> list[tuple]:
    """Epochs ``first..`` fed as ``fit`` would (the rate logged before the callback runs, as
    LearningRateLogger does); per epoch: the rate trained with, the counts after, stopped?"""
    import keras

    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    seen = []
    for index in range(first, len(values)):
        lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        callback.on_epoch_end(index, {"val_loss": values[index]})
        seen.append((lr, callback.wait, callback.best, model.stop_training))
        if model.stop_training:
            break
    return seen


@pytest.mark.parametrize("kind", ["plateau", "early_stopping"])
def test_a_resumed_count_is_the_uninterrupted_count(kind: str) -> None:
    """100 random monitor sequences (ties included, both directions, the rate's floor reached),
    each resumed after every epoch it ran: the rest is the uninterrupted run's, to the bit."""
    draw = random.Random(7)
    compared = 0
    for _ in range(100):
        values = [float(draw.choice([0.5, 0.6, 0.7, 0.8])) for _ in range(draw.randint(2, 10))]
        patience, mode = draw.randint(1, 3), draw.choice(["min", "max"])
        straight = _run(_callbacks(kind, patience, mode, []), _model(0.1), values, 0)
        for cut in range(1, len(straight)):
            # the checkpoint of epoch `cut` holds the rate that epoch trained with
            past = [PastEpoch(i, values[i], straight[i][0]) for i in range(cut)]
            resumed = _run(_callbacks(kind, patience, mode, past), _model(straight[cut - 1][0]),
                           values, cut)  # fmt: skip
            assert resumed == straight[cut:], (values, patience, mode, cut)
            compared += 1
    assert compared > 150


def test_a_run_early_stopping_ended_resumes_with_new_patience_and_its_best() -> None:
    """Resumed on purpose (``--resume`` with more epochs): the stop its past decides is dropped
    and its best value kept. Before, Keras saw the stop before the first batch, trained that
    batch and wrote it as a whole epoch."""
    values = [0.5, 0.6, 0.7, 0.55, 0.45, 0.46, 0.47]
    straight = _run(_callbacks("early_stopping", 2, "min", []), _model(0.1), values, 0)
    assert len(straight) == 3 and straight[-1][3]  # stopped after epoch 3
    past = [PastEpoch(i, values[i], 0.1) for i in range(3)]
    resumed = _run(_callbacks("early_stopping", 2, "min", past), _model(0.1), values, 3)
    # 0.55 does not beat the kept 0.5; then 0.45 does, and two epochs without better stop it
    assert [step[1:] for step in resumed] == [
        (1, 0.5, False),
        (0, 0.45, False),
        (1, 0.45, False),
        (2, 0.45, True),
    ]


def test_an_extension_cut_and_resumed_stops_where_the_extension_did() -> None:
    """A run early stopping ended, resumed for more (the extension), then cut and resumed
    again: it stops where the uninterrupted extension stopped, not a whole window later (the
    stop in its past is dropped where it happened, not at the end of the replay)."""
    draw = random.Random(11)
    compared = 0
    for _ in range(100):
        values = [float(draw.choice([0.5, 0.6, 0.7, 0.8])) for _ in range(12)]
        patience, mode = draw.randint(1, 2), draw.choice(["min", "max"])
        first = _run(_callbacks("early_stopping", patience, mode, []), _model(0.1), values, 0)
        start = len(first)
        if start == len(values):
            continue
        past = [PastEpoch(i, values[i], 0.1) for i in range(start)]
        extension = _run(_callbacks("early_stopping", patience, mode, past), _model(0.1),
                         values, start)  # fmt: skip
        for cut in range(start + 1, start + len(extension)):
            past = [PastEpoch(i, values[i], 0.1) for i in range(cut)]
            resumed = _run(_callbacks("early_stopping", patience, mode, past), _model(0.1),
                           values, cut)  # fmt: skip
            assert resumed == extension[cut - start :], (values, patience, mode, cut)
            compared += 1
    assert compared > 50


def test_rows_without_a_rate_train_at_the_checkpoints() -> None:
    """A history.csv without ``lr`` (not written by abyssexp): the replay must not reduce the
    checkpoint's rate once per past plateau."""
    values = [0.5, 0.6, 0.6, 0.6, 0.6]
    straight = _run(_callbacks("plateau", 1, "min", []), _model(0.1), values, 0)
    for cut in range(1, len(values)):
        past = [PastEpoch(i, values[i], None) for i in range(cut)]
        resumed = _run(_callbacks("plateau", 1, "min", past), _model(straight[cut - 1][0]),
                       values, cut)  # fmt: skip
        assert resumed == straight[cut:], cut


def test_a_plateau_is_refused_on_a_checkpoint_whose_rate_is_a_schedule() -> None:
    """``train --resume --set training.lr_schedule=plateau`` on a run trained with a schedule
    or a warm-up: its checkpoint's optimizer cannot have its rate set (Keras raised a TypeError
    at the first fit); refused as one line before the run is marked running."""
    import keras

    from abyssexp.errors import InvalidInputError
    from abyssexp.models.schedules import with_warmup
    from abyssexp.schemas.resolve import parse_set_options, resolve_params
    from abyssexp.training.stopping import learning_rate_and_stopping, settable_rate

    cosine = keras.optimizers.schedules.CosineDecay(0.1, 100)
    scheduled = [
        keras.optimizers.SGD(learning_rate=cosine),
        keras.optimizers.SGD(learning_rate=with_warmup(0.1, 1, 10)),
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate=cosine)),
    ]
    assert settable_rate(SimpleNamespace(optimizer=keras.optimizers.SGD(learning_rate=0.1)))
    assert not any(settable_rate(SimpleNamespace(optimizer=o)) for o in scheduled)
    params = resolve_params({}, parse_set_options(["training.lr_schedule=plateau"]))
    plan = SimpleNamespace(params=params, monitor="val_loss", resume=SimpleNamespace(epoch=2),
                           initial_epoch=2, paths=SimpleNamespace(root="/scratch/p/t/001.x"))  # fmt: skip
    with pytest.raises(InvalidInputError, match="which a plateau cannot set; resume without"):
        learning_rate_and_stopping(plan, [], SimpleNamespace(optimizer=scheduled[0]))


def test_without_the_past_the_count_starts_afresh_as_before() -> None:
    """What the resume used to do, and why it mattered: the rate fell an epoch late."""
    values = [0.5, 0.6, 0.6, 0.6]
    straight = _run(_callbacks("plateau", 1, "min", []), _model(0.1), values, 0)
    forgetting = _run(_callbacks("plateau", 1, "min", []), _model(straight[0][0]), values, 1)
    assert [lr for lr, *_ in straight] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert [lr for lr, *_ in forgetting] != [lr for lr, *_ in straight[1:]]


def test_a_later_phase_starts_afresh() -> None:
    """Only the first ``fit`` of a resumed run is given the past: phase 2's starts anew, as its
    ``fit`` does in the uninterrupted run."""
    callback = _callbacks("plateau", 1, "min", [PastEpoch(0, 0.5, 0.1), PastEpoch(1, 0.6, 0.1)])
    first = _run(callback, _model(0.1), [0.5, 0.6, 0.4], 2)
    assert first[0][1:3] == (0, 0.4)
    again = _run(callback, _model(0.1), [0.5, 0.6, 0.4, 0.9], 3)
    assert again[0][1:3] == (0, 0.9)  # no best carried into the new phase


def _plan(resume_epoch: int | None, *, init: int = 0, frozen: int = 0) -> Any:
    training = SimpleNamespace(init_epoch=init, freeze_backbone_epochs=frozen)
    resume = None if resume_epoch is None else SimpleNamespace(epoch=resume_epoch)
    return SimpleNamespace(
        params=SimpleNamespace(training=training),
        resume=resume,
        initial_epoch=init if resume_epoch is None else resume_epoch,
    )


ROWS = [
    {"epoch": "1", "val_loss": "0.5", "lr": "0.1"},
    {"epoch": "2", "val_loss": "", "lr": "0.1"},  # never logged: counted by neither callback
    {"epoch": "3", "val_loss": "nan", "lr": "0.05"},
    {"epoch": "4", "val_loss": "0.25"},  # a row without the rate
    {"epoch": "5", "val_loss": "0.2", "lr": "0.05"},  # after the checkpoint resumed from
]


def test_the_past_is_the_resumed_phases_finished_epochs() -> None:
    plain = past_epochs(_plan(4), ROWS, "val_loss")
    assert [(e.epoch, e.lr) for e in plain] == [(0, 0.1), (2, 0.05), (3, None)]
    assert str(plain[1].value) == "nan"
    assert past_epochs(_plan(None), ROWS, "val_loss") == []
    # two-phase fine-tuning, 2 frozen epochs: resumed in phase 1, at the switch, in phase 2
    assert first_epoch_of_phase(_plan(1, frozen=2)) == 0
    assert first_epoch_of_phase(_plan(2, frozen=2)) == 2
    assert [e.epoch for e in past_epochs(_plan(2, frozen=2), ROWS, "val_loss")] == []
    assert [e.epoch for e in past_epochs(_plan(4, frozen=2), ROWS, "val_loss")] == [2, 3]
    # a run that started at init_epoch 1: its callbacks never saw epoch 0
    assert [e.epoch for e in past_epochs(_plan(4, init=1), ROWS, "val_loss")] == [2, 3]


@pytest.mark.parametrize(
    ("items", "says"),
    [
        (
            ["callbacks.reduce_lr_on_plateau.enabled=true", "training.lr_schedule=cosine"],
            "training.lr_schedule=cosine, whose rate cannot be set; use one of them",
        ),
        (
            ["training.lr_schedule=plateau", "training.warmup_epochs=0.5"],
            "(training.warmup_epochs is 0.5): the rate must stay settable",
        ),
        (
            ["callbacks.reduce_lr_on_plateau.enabled=true", "training.warmup_epochs=2"],
            "set training.warmup_epochs=0 or use another schedule",
        ),
    ],
)
def test_a_plateau_on_a_rate_it_cannot_set_is_refused_before_training(items, says) -> None:
    """Keras raised at the first plateau, epochs into the run: a schedule's rate (a warm-up
    makes one) cannot be set. ``train`` refuses it while planning, as one line."""
    from abyssexp.errors import InvalidInputError
    from abyssexp.schemas.resolve import parse_set_options, resolve_params
    from abyssexp.training.plan import preflight

    with pytest.raises(InvalidInputError) as raised:
        preflight(resolve_params({}, parse_set_options(items)))
    assert says in str(raised.value)
    preflight(resolve_params({}, parse_set_options(items[:1])))  # either alone is fine

"""The random state of a model's layers, which a saved model does not hold.

Keras layers that draw at random in training (``Dropout``, the augmentation layers placed in the
model, ``keras.layers.RandAugment``) each own a ``SeedGenerator`` whose state counts the draws;
``model.save`` keeps weights and the optimizer but not these states, and a loaded model starts
them again from a fresh seed. ``train_state.json`` carries them from one epoch's end to the
resumed run (``abyssexp.training``), so its draws continue those of an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from abyssexp.errors import ExperimentStateError

logger = logging.getLogger(__name__)

#: The variable name Keras gives every ``SeedGenerator``'s state.
SEED_STATE_NAME = "seed_generator_state"


def _seed_states(model: Any) -> list[Any]:
    """Every seed-generator state variable of ``model``, in the model's own (stable) order."""
    return [v for v in model.variables if v.name == SEED_STATE_NAME]


def layer_random_states(model: Any) -> list[tuple[int, int]]:
    """The state of each seed generator of ``model``'s layers, as pairs of integers."""
    states = []
    for variable in _seed_states(model):
        first, second = (int(x) for x in variable.numpy().reshape(-1)[:2])
        states.append((first, second))
    return states


def restore_layer_random_states(
    model: Any, states: Sequence[tuple[int, int]] | None, source: str
) -> None:
    """Set ``model``'s seed generators to ``states`` (from ``layer_random_states``); None (a
    file written before these states were saved) leaves them as loaded, with a warning when the
    model has any: its draws start anew, unlike an uninterrupted run's.

    Raises:
        ExperimentStateError: ``states`` does not have one pair per seed generator of the model
            (``source`` says which file held them).
    """
    variables = _seed_states(model)
    if states is None:
        if variables:
            logger.warning(
                "%s: written before abyssexp saved the random state of the model's layers; "
                "dropout and augmentation in the model draw anew from here, so this resumed run "
                "will not match an uninterrupted one number for number",
                source,
            )
        return
    if len(variables) != len(states):
        raise ExperimentStateError(
            f"{source}: holds {len(states)} layer random states, but the checkpoint's model has "
            f"{len(variables)} random layers; the file does not belong to this checkpoint"
        )
    for variable, state in zip(variables, states, strict=True):
        variable.assign([int(state[0]), int(state[1])])

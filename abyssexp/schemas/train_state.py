"""``models/train_state.json``: the last finished epoch and what ``train --resume`` restores
besides the checkpoint's weights and optimizer.

Written last after each epoch (``abyssexp.training.callbacks``), read through
``abyssexp.experiment.checkpoints.read_train_state``. Unknown fields are kept (a newer abyssexp may
add some). Version 1 files (no ``state_version``) hold no layer random states: a run resumed from
one restarts the draws of the model's own random layers (dropout, augmentation placed in the
model) from their first values, so it matches an uninterrupted run only without such layers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TRAIN_STATE_VERSION = 2


class TrainState(BaseModel):
    """Where a run stopped: its last finished epoch, that epoch's checkpoint, the best value so
    far and the random state of the model's layers."""

    model_config = ConfigDict(extra="allow")

    state_version: int = Field(
        1, ge=1, description="Layout of this file; files without it are version 1."
    )
    epoch: int = Field(ge=1, description="The last finished epoch (counted from 1).")
    checkpoint: str = Field(description="That epoch's checkpoint in models/: model_<epoch>.keras.")
    monitor: str | None = Field(None, description="The monitored metric.")
    mode: Literal["min", "max"] | None = Field(
        None, description="Whether lower or higher is better."
    )
    best_value: float | None = Field(None, description="The best monitored value so far.")
    best_epoch: int | None = Field(None, ge=1, description="The epoch that reached it.")
    time: float | None = Field(None, description="When the epoch finished (Unix time).")
    layer_random_states: list[tuple[int, int]] | None = Field(
        None,
        description="The state of each random-number generator of the model's layers (dropout, "
        "augmentation in the model), in the model's order, after the epoch; null in version 1.",
    )

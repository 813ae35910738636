"""Any Keras optimizer by name, its arguments checked against its signature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from abyssexp.errors import InvalidInputError
from abyssexp.models.compile_options import check_optimizer, optimizer_classes

if TYPE_CHECKING:
    import keras

    from abyssexp.models.schedules import LearningRate


def make_optimizer(
    name: str, learning_rate: LearningRate, args: dict[str, Any] | None = None
) -> keras.optimizers.Optimizer:
    """``make_optimizer("sgd", 1e-3, {"momentum": 0.9})``; unknown names and arguments are refused
    with the valid ones listed. The learning rate always comes from ``training.lr``."""
    args = dict(args or {})
    check_optimizer(name, args)
    cls = optimizer_classes()[name.lower()]
    try:
        return cls(learning_rate=learning_rate, **args)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"training.optimizer_args: {exc}. Received: {args}") from None

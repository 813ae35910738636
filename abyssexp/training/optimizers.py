"""Any Keras optimizer by name, its arguments checked against its signature."""

from __future__ import annotations

import inspect
from typing import Any

from abyssexp.errors import InvalidInputError


def optimizer_classes() -> dict[str, type]:
    import keras

    found = {}
    for name in dir(keras.optimizers):
        value = getattr(keras.optimizers, name)
        if (
            isinstance(value, type)
            and issubclass(value, keras.optimizers.Optimizer)
            and value is not keras.optimizers.Optimizer
            and not name.startswith("Loss")
        ):
            found[name.lower()] = value
    return found


def make_optimizer(name: str, learning_rate: Any, args: dict[str, Any] | None = None) -> Any:
    """``make_optimizer("sgd", 1e-3, {"momentum": 0.9})``; unknown names and arguments are refused
    with the valid ones listed. The learning rate always comes from ``training.lr``."""
    classes = optimizer_classes()
    cls = classes.get(name.lower())
    if cls is None:
        raise InvalidInputError(
            f"training.optimizer: unknown optimizer {name!r} (valid: {', '.join(sorted(classes))})"
        )
    args = dict(args or {})
    if "learning_rate" in args or "lr" in args:
        raise InvalidInputError(
            "training.optimizer_args: do not set the learning rate here; use training.lr "
            "(--set training.lr=...)"
        )
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise InvalidInputError(
            f"training.optimizer_args: {cls.__name__} has no argument(s) {', '.join(unknown)} "
            f"(valid: {', '.join(v for v in valid if v != 'learning_rate')})"
        )
    try:
        return cls(learning_rate=learning_rate, **args)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"training.optimizer_args: {exc}. Received: {args}") from None

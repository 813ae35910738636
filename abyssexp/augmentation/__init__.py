"""Augmentation with the original team's configuration dict.

``config_from_any`` accepts the seed's dict (``{"some_of": None, "flip_lr": True, ...}``), an
``AugmentationParams`` or the CLI string; ``tf_backend`` runs it in-graph and ``imgaug_backend``
maps it onto imgaug as the original did. Everything works in pixel space (0-255), before the
backbone's normalisation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from abyssexp.errors import InvalidInputError
from abyssexp.literals import parse_literal

if TYPE_CHECKING:
    from abyssexp.schemas.params import AugmentationParams


def config_from_any(config: Any, enabled: bool = True) -> AugmentationParams:
    """An ``AugmentationParams`` from a dict, a string, or params (returned as they are)."""
    from pydantic import ValidationError

    from abyssexp.schemas.params import AugmentationParams
    from abyssexp.schemas.resolve import format_validation_error

    if isinstance(config, AugmentationParams):
        return config
    if isinstance(config, str):
        config = parse_literal(config, what="--augmentation-configuration")
    if not isinstance(config, Mapping):
        raise InvalidInputError(
            f"--augmentation-configuration: expected a dict such as "
            f'{{"flip_lr": True, "rotate": (-10, 10)}}. Received: {config!r}'
        )
    data = dict(config)
    data.setdefault("enabled", enabled)
    try:
        return AugmentationParams.model_validate(data)
    except ValidationError as exc:
        lines = [f"augmentation.{line}" for line in format_validation_error(exc)]
        raise InvalidInputError(lines[0], lines) from None


def make_image_augmenter(config: Any, seed: int | None = None) -> Callable[[Any], Any]:
    """A per-image ``fn(uint8 H×W×3) -> uint8 H×W×3`` for the generator pipeline.

    ``config`` may also be an imgaug augmenter (anything with ``augment_image``).
    """
    if hasattr(config, "augment_image"):
        return config.augment_image
    params = config_from_any(config)
    if params.backend == "imgaug":
        from abyssexp.augmentation.imgaug_backend import build_imgaug_sequence

        sequence = build_imgaug_sequence(params, seed=seed)
        return sequence.augment_image
    from abyssexp.augmentation.tf_backend import image_augmenter

    return image_augmenter(params, seed=seed or 0)


def augmentation_gen(
    gen: Iterable[tuple[Any, Any]],
    aug_config: Any = None,
    enable: bool = True,
    seed: int | None = None,
) -> Iterator:
    """The seed's generator stage: augment each image with the seed's configuration dict,
    ``AugmentationParams``, or an imgaug augmenter (anything with ``augment_image``). Images
    stay in pixel space (0-255).

    Also importable as ``abyssexp.datasets.augmentation_gen`` (the seed's path, a lazy
    re-export: the data floor itself never imports augmentation).
    """
    from abyssexp.datasets.generators import augmented_gen

    if not enable or aug_config is None:
        yield from gen
        return
    yield from augmented_gen(gen, make_image_augmenter(aug_config, seed=seed))

"""The backbone registry over ``keras.applications``: each with its own ``preprocess_input`` and
default input size (the original used Xception's preprocessing for every backbone).

Listing needs no TensorFlow; only ``create_backbone`` and ``preprocess_function`` import Keras.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.errors import InvalidInputError, OptionalDependencyError
from abyssexp.schemas.choices import BACKBONE_TABLE

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    constructor: str  # attribute of keras.applications, or module:function (tinycnn)
    module: str  # keras.applications submodule holding preprocess_input
    input_size: int
    min_size: int = 32


def _specs() -> dict[str, BackboneSpec]:
    return {
        name: BackboneSpec(name, ctor, module, size, minimum)
        for name, ctor, module, size, minimum in BACKBONE_TABLE
    }


BACKBONES: dict[str, BackboneSpec] = _specs()


def list_backbones(pattern: str | None = None) -> list[BackboneSpec]:
    """Registered backbones, optionally filtered by a glob (``efficientnet*``)."""
    names = sorted(BACKBONES)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]
    return [BACKBONES[n] for n in names]


def get_backbone_spec(name: str) -> BackboneSpec:
    """The spec of a backbone; an unknown name lists close matches."""
    key = name.lower().replace("_", "").replace("-", "")
    if key in BACKBONES:
        return BACKBONES[key]
    close = difflib.get_close_matches(key, list(BACKBONES), n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "`abyssexp backbones` lists them"
    raise InvalidInputError(f"model.backbone: unknown backbone {name!r}; {hint}")


def input_shape_for(name: str, input_shape: Sequence[int] | None) -> tuple[int, int, int]:
    """The model's input shape: ``input_shape`` when given, else the backbone's own size."""
    if input_shape:
        return (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))
    spec = get_backbone_spec(name)
    return (spec.input_size, spec.input_size, 3)


def check_min_size(name: str, input_shape: Sequence[int]) -> None:
    """Refuse an input smaller than the backbone's downsampling allows."""
    spec = get_backbone_spec(name)
    if min(input_shape[:2]) < spec.min_size:
        raise InvalidInputError(
            f"model.input_shape: {spec.name} needs at least {spec.min_size}×{spec.min_size} "
            f"pixels. Received: input_shape={list(input_shape)}"
        )


def preprocess_function(name: str) -> Callable[..., Any]:
    """The backbone's own ``preprocess_input``."""
    import importlib

    spec = get_backbone_spec(name)
    module = importlib.import_module(f"keras.applications.{spec.module}")
    return module.preprocess_input


def _imagenet_file_from(exc: BaseException) -> str | None:
    match = re.search(r"https?://\S+?/([\w.\-]+\.h5)", str(exc))
    return match.group(1) if match else None


def _built_quietly(constructor: Callable[..., keras.Model], kwargs: dict[str, Any]) -> keras.Model:
    """``constructor(**kwargs)`` holding back what Keras says meanwhile (its ``UserWarning``
    about non-square inputs, "Downloading data from ..." on stdout): when the build fails, the
    one-line error is all a person needs; when it succeeds, the held text goes to the log and
    the warnings are raised again."""
    import contextlib
    import io
    import warnings

    said = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(said):
        warnings.simplefilter("always")
        built = constructor(**kwargs)
    if said.getvalue().strip():
        logger.info("%s", said.getvalue().strip())
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return built


def _constructor(spec: BackboneSpec) -> Callable[..., keras.Model]:
    """``keras.applications.<constructor>``, or ``module:function`` for one of abyssexp's own."""
    import importlib

    import keras

    module, _, function = spec.constructor.rpartition(":")
    if module:
        return getattr(importlib.import_module(module), function)
    return getattr(keras.applications, spec.constructor)


def create_backbone(name: str, input_shape: tuple[int, ...], weights: str | None) -> keras.Model:
    """Build ``keras.applications.<Backbone>(include_top=False)``.

    ``weights`` is ``"imagenet"``, ``None`` or a weights file path. Offline, the ImageNet download
    fails with one line naming the file to place in ``~/.keras/models/``.
    """

    spec = get_backbone_spec(name)
    check_min_size(name, input_shape)
    constructor = _constructor(spec)
    kwargs: dict[str, Any] = {"include_top": False, "weights": weights, "input_shape": input_shape}
    try:
        return _built_quietly(constructor, kwargs)
    except ValueError as exc:
        raise InvalidInputError(f"model: {spec.name} cannot be built: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - Keras raises a bare Exception on download failure
        if weights == "imagenet":
            file_name = _imagenet_file_from(exc) or f"{spec.module}_..._notop.h5"
            cache = Path.home() / ".keras" / "models"
            raise OptionalDependencyError(
                f"model.init_weights=imagenet: cannot download {file_name} (no internet here); "
                f"place it in {cache}/ or set model.init_weights to a local weights file or none"
            ) from None
        raise

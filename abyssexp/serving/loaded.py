"""The model a server answers with: resolved from what ``predict`` takes, verified against its
manifest when it is a promoted model, loaded in Keras safe mode (or its export), warmed up.

A ``ServedModel`` is immutable: an alias move builds a new one beside it (``watch``), and the
batcher swaps the reference between batches, so every answer comes from exactly one model and
says which (its checksum).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from abyssexp.errors import InvalidInputError, StoreError
from abyssexp.experiment.promoted import PromotedPaths, is_promoted_folder
from abyssexp.hashing import sha256_file
from abyssexp.store.backend import open_promoted, open_store

if TYPE_CHECKING:
    from abyssexp.config import StoreURL
    from abyssexp.evaluation.predict import ScoresMeaning
    from abyssexp.serving.options import ServeOptions

log = logging.getLogger(__name__)
#: What ``/v1/model`` says of a model that is not a promoted one (a REF, a ``.keras`` file).
NOT_PROMOTED = "not a promoted model: no manifest to verify it against"


class ModelDescription(TypedDict):
    """``GET /v1/model``: the served model, what it means (classes, activation, thresholds),
    its caveats, test results and export parity, and whether it was checked."""

    name: str
    location: str
    checksum: str
    format: str
    class_names: list[str]
    activation: str
    thresholds: Any
    input_size: list[int]
    caveats: dict[str, Any]
    tests: dict[str, Any]
    parity: dict[str, Any] | None
    verified: str
    loaded_at: str


@dataclass(frozen=True)
class ServedModel:
    """One loaded model and what its answers need: the meaning of its scores, its identity."""

    name: str
    location: str
    checksum: str
    format: str
    input_size: tuple[int, int]
    meaning: ScoresMeaning
    run: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    caveats: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] | None = None
    verified: bool = False
    loaded_at: float = field(default_factory=time.time)

    def describe(self) -> ModelDescription:
        """What ``GET /v1/model`` shows of it."""
        return {
            "name": self.name,
            "location": self.location,
            "checksum": self.checksum,
            "format": self.format,
            "class_names": self.meaning.class_names,
            "activation": self.meaning.activation,
            "thresholds": self.meaning.thresholds,
            "input_size": list(self.input_size),
            "caveats": self.caveats,
            "tests": self.tests,
            "parity": self.parity,
            "verified": "against its manifest" if self.verified else NOT_PROMOTED,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
        }


def locate_alias(options: ServeOptions) -> Path | StoreURL:
    """Where ``PROJECT/TYPE@ALIAS`` points now, in the store's registry (read-only)."""
    return open_store(options.store).resolve_alias(options.source)


def is_alias(source: str) -> bool:
    """Whether ``source`` names a model by ``PROJECT/TYPE@ALIAS`` (watched while serving)."""
    return "@" in source and "://" not in source and not Path(source).exists()


def load_source(options: ServeOptions) -> ServedModel:
    """The model ``options.source`` names, loaded (an alias: where it points now).

    Raises:
        StoreError: a promoted model that differs from its manifest, or lacks the export.
        InvalidInputError: a source that names nothing, or an export format asked of a model
            that is not promoted.
    """
    if is_alias(options.source):
        return load_promoted(locate_alias(options), options)
    if "://" in options.source or is_promoted_folder(Path(options.source)):
        return load_promoted(options.source, options)
    from abyssexp.store.sources import resolve_export_source

    checkpoint, _ = resolve_export_source(options.source, options.scratch, options.store)
    if options.format != "keras":
        raise InvalidInputError(
            f"{options.source}: --format {options.format} serves a promoted model's export; "
            "serve this model with --format keras, or promote it with --export"
        )
    model = _load(checkpoint, checkpoint, "keras", options.max_batch)
    return _served(model, checkpoint, checkpoint.stem, sha256_file(checkpoint), options.format)


def load_promoted(location: str | Path | StoreURL, options: ServeOptions) -> ServedModel:
    """A promoted model (a folder or a URL) checked against its manifest, then loaded.

    Raises:
        StoreError: any file differs from the manifest (the model is not loaded), or the
            export ``options.format`` asks for is not there.
    """
    promoted = open_promoted(location, "model")
    problems = promoted.verify()
    if problems:
        raise StoreError(
            f"{location}: does not match its manifest ({problems[0]}"
            f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); not loaded"
        )
    paths = PromotedPaths(promoted.local_folder())
    from abyssexp.store.manifest import read_manifest
    from abyssexp.store.registry import read_entry

    entry = read_entry(paths.root)
    expected = read_manifest(paths.root).get(paths.model.name)
    checksum = sha256_file(paths.model)
    if checksum != expected:  # changed since it was verified: refuse rather than guess
        raise StoreError(f"{paths.model}: sha256 differs from its manifest; not loaded")
    model = _load(paths.model, paths.exports, options.format, options.max_batch)
    return replace(
        _served(model, paths.model, entry["name"], checksum, options.format),
        location=str(location),
        caveats=entry.get("caveats") or {},
        tests=entry.get("tests") or {},
        parity=_parity(paths.exports),
        verified=True,
    )


@dataclass(frozen=True)
class _Loaded:
    keras_model: Any
    run: Callable[[np.ndarray], np.ndarray]


def _load(model_path: Path, exports: Path, format: str, max_batch: int) -> _Loaded:
    """The Keras model (its facts) and the function that runs a uint8 batch in ``format``,
    warmed up at one image and at ``max_batch`` (so the first requests and a swap do not pay
    for tracing)."""
    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(model_path, compile=False)
    if format == "keras":

        def run(images: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict_on_batch(images), dtype=np.float64)

    else:
        from abyssexp.models.export import export_path, export_runner

        if not export_path(exports, format).exists():
            raise StoreError(
                f"{export_path(exports, format)}: no {format} export in this promoted model; "
                f"serve --format keras, or promote with --export {format}"
            )
        exported = export_runner(exports, format)

        def run(images: np.ndarray) -> np.ndarray:
            scores = exported(images.astype(np.float32))
            return np.asarray(scores, dtype=np.float64)

    from abyssexp.serving.inputs import warm_up

    height, width = (int(v) for v in model.input_shape[1:3])
    for count in sorted({1, max_batch}):
        run(np.zeros((count, height, width, 3), dtype=np.uint8))
    warm_up((height, width))
    return _Loaded(model, run)


def _served(
    loaded: _Loaded, model_path: Path, name: str, checksum: str, format: str
) -> ServedModel:
    from abyssexp.evaluation.predict import ScoresMeaning

    model = loaded.keras_model
    return ServedModel(
        name=name,
        location=str(model_path),
        checksum=checksum,
        format=format,
        input_size=(int(model.input_shape[1]), int(model.input_shape[2])),
        meaning=ScoresMeaning.of(model, model_path),
        run=loaded.run,
    )


def _parity(exports: Path) -> dict[str, Any] | None:
    """The exports' parity figures (``export/export.json``), if the model was exported."""
    from abyssexp.experiment.promoted import EXPORT_MANIFEST
    from abyssexp.schemas.export_manifest import load_export_manifest

    data = load_export_manifest(exports / EXPORT_MANIFEST)
    if data is None or data.get("formats") is None:
        return None
    formats = data["formats"]
    keep = ("max_abs_difference", "top1_agreement", "images_per_second")
    return {
        "parity_images": data.get("parity_images"),
        "formats": {
            str(name): {k: row.get(k) for k in keep}
            for name, row in formats.items()
            if isinstance(row, dict)
        },
    }

"""``abyssexp predict``: class scores for images, folders or a COCO file, from any saved model.

Images are decoded and resized by the same ``tf.data`` code as evaluation, in parallel, and
predicted batch by batch (no Python loop per image). Class names come from ``class_names.json``
beside the model (an experiment's ``models/`` or a promoted folder); sigmoid models use the
per-class thresholds in ``thresholds.json`` there when present, else 0.5.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abyssexp.errors import InvalidInputError
from abyssexp.evaluation.thresholds import read_thresholds
from abyssexp.experiment.layout import CLASS_NAMES_FILE
from abyssexp.schemas.model_files import read_class_names

if TYPE_CHECKING:
    import keras

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class PredictInput:
    """One image to predict: its file and, from a COCO file, its image id."""

    path: Path
    image_id: int | None = None


@dataclass
class Predictions:
    """Scores per image, with what they mean."""

    model: Path
    class_names: list[str]
    activation: str
    thresholds: list[float] | None
    inputs: list[PredictInput]
    scores: np.ndarray
    seconds: float
    top_k: int = 3

    def rows(self) -> list[dict[str, Any]]:
        """COCO-results-like rows: image id, file, every class score, top-k, predicted."""
        names = self.class_names
        rows = []
        for item, scores in zip(self.inputs, self.scores, strict=True):
            order = np.argsort(-scores)[: self.top_k]
            if self.activation == "softmax":
                predicted = [names[int(order[0])]]
            else:
                limits = self.thresholds or [0.5] * len(names)
                predicted = [n for n, s, t in zip(names, scores, limits, strict=True) if s >= t]
            rows.append(
                {
                    "image_id": item.image_id,
                    "file_name": str(item.path),
                    "scores": {n: float(s) for n, s in zip(names, scores, strict=True)},
                    "top_k": [[names[int(c)], float(scores[c])] for c in order],
                    "predicted": predicted,
                }
            )
        return rows

    def constant_warning(self) -> str | None:
        """A warning when every image got the same top class with the same score (to 4
        decimals): a broken or untrained model, whatever the images show."""
        if len(self.scores) < 2:
            return None
        top = self.scores.argmax(axis=1)
        best = self.scores[np.arange(len(top)), top]
        if len(set(top.tolist())) == 1 and float(np.ptp(best)) < 1e-4:
            return (
                f"every one of the {len(top)} images got the same top class "
                f"({self.class_names[int(top[0])]}) with the same score ({float(best[0]):.4f}): "
                "the model does not look at its input; check the model (abyssexp show, "
                "its test caveats)"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "warning": self.constant_warning(),
            "model": str(self.model),
            "class_names": self.class_names,
            "activation": self.activation,
            "thresholds": self.thresholds,
            "images": len(self.inputs),
            "images_per_second": len(self.inputs) / self.seconds if self.seconds else None,
            "predictions": self.rows(),
        }


def collect_inputs(
    items: Sequence[Path], coco: Path | None = None, image_dir: Path | None = None
) -> list[PredictInput]:
    """Image files, every image under folders (sorted), and the images of a COCO file (in
    ``image_dir`` when given, else found where export tools put them).

    Raises:
        InvalidInputError: a path that does not exist, or no image at all.
    """
    found: list[PredictInput] = []
    for item in items:
        if item.is_dir():
            found += [
                PredictInput(p)
                for p in sorted(item.rglob("*"))
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ]
        elif item.is_file():
            found.append(PredictInput(item))
        else:
            raise InvalidInputError(f"{item}: no such file or folder")
    if coco is not None:
        found += _coco_inputs(coco, image_dir)
    if not found:
        raise InvalidInputError("predict: no images given (files, folders or --coco FILE)")
    return found


def _coco_inputs(coco: Path, image_dir: Path | None) -> list[PredictInput]:
    """The images of a COCO file, found the way every command finds them (``require_images``)."""
    from abyssexp.datasets.locate import require_images, resolve_image_path
    from abyssexp.jsonio import read_json

    data = read_json(coco, f"--coco {coco}", InvalidInputError, max_depth=None)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list) or not all(
        isinstance(image, dict) and "file_name" in image for image in images
    ):
        raise InvalidInputError(
            f"--coco {coco}: not a COCO file (no 'images' list of objects with a file_name)"
        )
    folder = require_images(coco, images, image_dir).path
    return [PredictInput(resolve_image_path(image, folder), image.get("id")) for image in images]


def predict_images(
    model_path: Path,
    inputs: list[PredictInput],
    batch_size: int = 32,
    top_k: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> Predictions:
    """Predict every input with the model at ``model_path`` (loaded in Keras safe mode).

    Args:
        model_path: a ``.keras`` file.
        inputs: from ``collect_inputs``.
        batch_size: images per batch.
        top_k: how many classes each row ranks.
        progress: called with (images done, images in all).

    Returns:
        The scores and what they mean.
    """
    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(model_path, compile=False)
    scores, seconds = predict_with(model, inputs, batch_size, progress)
    meaning = ScoresMeaning.of(model, model_path)
    return Predictions(
        model=model_path,
        class_names=meaning.class_names,
        activation=meaning.activation,
        thresholds=meaning.thresholds,
        inputs=inputs,
        scores=scores,
        seconds=seconds,
        top_k=min(top_k, len(meaning.class_names)),
    )


@dataclass(frozen=True)
class ScoresMeaning:
    """What a model's scores mean: its classes, its output activation and, for sigmoid, the
    thresholds that make labels. ``predict`` and ``serve`` read it the same way."""

    class_names: list[str]
    activation: str
    thresholds: list[float] | None

    @classmethod
    def of(cls, model: keras.Model, model_path: Path) -> ScoresMeaning:
        """Read from the model (activation, class count) and the files beside ``model_path``:
        ``class_names.json`` (else ``class_<i>``) and ``thresholds.json``."""
        count = int(model.output_shape[-1])
        activation = model.get_layer("head_activation").get_config().get("activation", "softmax")
        names = read_class_names(model_path.parent / CLASS_NAMES_FILE) or [
            f"class_{i}" for i in range(count)
        ]
        return cls(
            class_names=[str(n) for n in names],
            activation=activation if isinstance(activation, str) else "softmax",
            thresholds=read_thresholds(model_path),
        )


def predict_with(
    model: keras.Model,
    inputs: list[PredictInput],
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, float]:
    """Scores of a loaded model for every input, and the seconds it took: one ``model.predict``
    over the decoding pipeline, so decoding overlaps the model."""
    import keras

    from abyssexp.datasets.pipeline import make_image_batches

    class Progress(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
            if progress:
                progress(min((batch + 1) * batch_size, len(inputs)), len(inputs))

    size = tuple(model.input_shape[1:3])
    batches = make_image_batches([i.path for i in inputs], size, batch_size)
    started = time.monotonic()
    scores = model.predict(batches, verbose=0, callbacks=[Progress()])
    return np.asarray(scores, dtype=np.float64), time.monotonic() - started

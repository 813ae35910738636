"""Export a saved classifier for serving, each format checked against the Keras model.

Formats: ``savedmodel`` (TensorFlow SavedModel with a ``serve`` signature, what TF Serving loads),
``onnx`` (through tf2onnx, run with onnxruntime) and ``litert`` (a ``.tflite`` flatbuffer, run with
the LiteRT/TFLite interpreter). Every export is float32, also for mixed-precision models. Each is
run on a fixed batch of images and compared with the Keras model's scores: the largest absolute
difference and the top-1 agreement go into ``export.json``; past the tolerance the export fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abyssexp.atomic import atomic_write_json
from abyssexp.errors import InvalidInputError, OptionalDependencyError, StoreError
from abyssexp.experiment.promoted import EXPORT_MANIFEST
from abyssexp.schemas.export_manifest import FormatParity

if TYPE_CHECKING:
    import keras

FORMATS = ("savedmodel", "onnx", "litert")
DEFAULT_TOLERANCE = 1e-4
_TARGETS = {"savedmodel": "savedmodel", "onnx": "model.onnx", "litert": "model.tflite"}
_KERAS_FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx", "litert": "litert"}


def parse_formats(text: str) -> list[str]:
    """``savedmodel,onnx`` → the formats, each checked."""
    formats = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InvalidInputError(
            f"--export/--format: unknown format {', '.join(unknown) or repr(text)} "
            f"(valid: {', '.join(FORMATS)})"
        )
    return list(dict.fromkeys(formats))


@dataclass
class ExportReport:
    """What ``export.json`` holds: per format its path, size, parity and speed."""

    source: str
    formats: dict[str, FormatParity] = field(default_factory=dict)
    parity_images: int = 0
    tolerance: float = DEFAULT_TOLERANCE

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "parity_images": self.parity_images,
            "tolerance": self.tolerance,
            "formats": self.formats,
        }


def export_model(
    model_path: Path,
    out_dir: Path,
    formats: Sequence[str],
    sample: np.ndarray | Callable[[tuple[int, int]], np.ndarray],
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportReport:
    """Export ``model_path`` into ``out_dir`` in each format and check it on ``sample``.

    Args:
        model_path: a ``.keras`` file abyssexp saved.
        out_dir: where the exports and ``export.json`` go (created; must not hold them yet).
        formats: names from ``FORMATS``.
        sample: float32 images (N×H×W×3, 0-255) to compare the scores on, or a function of
            the model's input size (height, width) that makes them (the model is loaded once).
        tolerance: the largest absolute score difference accepted.

    Returns:
        The report written to ``out_dir/export.json``.

    Raises:
        StoreError: an export's scores differ from the Keras model's beyond ``tolerance``.
        OptionalDependencyError: onnx/tf2onnx/onnxruntime are not installed.
    """
    from abyssexp.models.classifier import load_keras_model

    model = float32_model(load_keras_model(model_path, compile=False))
    if callable(sample):
        sample = sample(tuple(model.input_shape[1:3]))
    expected = np.asarray(model.predict(sample, verbose=0), dtype=np.float64)
    report = ExportReport(str(model_path), parity_images=len(sample), tolerance=tolerance)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in formats:
        target = out_dir / _TARGETS[name]
        if target.exists():
            raise StoreError(f"{target}: already exported; exports are never overwritten")
        with _quiet():
            _export_one(model, name, target)
            runner = _RUNNERS[name](target)
            scores, rate = _timed(runner, sample)
        difference = float(np.max(np.abs(scores - expected)))
        agreement = float(np.mean(np.argmax(scores, 1) == np.argmax(expected, 1)))
        report.formats[name] = {
            "path": target.name,
            "bytes": _size(target),
            "max_abs_difference": difference,
            "top1_agreement": agreement,
            "images_per_second": rate,
        }
        if difference > tolerance or agreement < 1.0:
            raise StoreError(
                f"{target}: {name} export differs from the Keras model (max |difference| "
                f"{difference:.2e}, top-1 agreement {agreement:.3f}, tolerance {tolerance:g}); "
                "not used"
            )
    atomic_write_json(out_dir / EXPORT_MANIFEST, report.to_json())
    return report


def float32_model(model: keras.Model) -> keras.Model:
    """``model`` itself, or a float32 copy when it computes in mixed precision."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    config = json.loads(model.to_json().replace('"mixed_float16"', '"float32"'))
    clone = keras.models.model_from_json(json.dumps(config))
    clone.set_weights(model.get_weights())
    return clone


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep converters' and interpreters' chatter (deprecation notices, C++ INFO lines written
    to file descriptor 2) off the user's terminal; errors still raise."""
    import os
    import sys
    import warnings

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _export_one(model: keras.Model, name: str, target: Path) -> None:
    if name == "onnx":
        for module in ("onnx", "tf2onnx", "onnxruntime"):
            try:
                __import__(module)
            except ImportError:
                raise OptionalDependencyError(
                    f"ONNX export needs {module}: pip install 'abyssexp[export]'"
                ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    model.export(str(target), format=_KERAS_FORMATS[name], verbose=False)


def _timed(runner: Callable[[np.ndarray], np.ndarray], sample: np.ndarray) -> tuple[Any, float]:
    runner(sample)  # warm-up: graph building, session start
    rounds, started = 0, time.perf_counter()
    while rounds < 3 or time.perf_counter() - started < 0.5:
        scores = runner(sample)
        rounds += 1
    seconds = time.perf_counter() - started
    return np.asarray(scores, dtype=np.float64), rounds * len(sample) / seconds


def _run_savedmodel(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return lambda images: loaded.serve(tf.constant(images)).numpy()


def _run_onnx(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images})[0]


def _run_litert(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(str(path))
    index = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]

    def run(images: np.ndarray) -> np.ndarray:
        interpreter.resize_tensor_input(index, images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, images)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return run


_RUNNERS = {"savedmodel": _run_savedmodel, "onnx": _run_onnx, "litert": _run_litert}


def export_path(folder: Path, name: str) -> Path:
    """Where format ``name`` lies in an exports folder (``export/`` of a promoted model)."""
    return folder / _TARGETS[name]


def export_runner(folder: Path, name: str) -> Callable[[np.ndarray], np.ndarray]:
    """``fn(float32 images N×H×W×3, 0-255) -> scores`` of the export of format ``name`` in
    ``folder``, run as the parity check runs it (``abyssexp serve --format``)."""
    with _quiet():
        return _RUNNERS[name](export_path(folder, name))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

"""After promotion: `abyssexp predict`'s loop (decoding JPEG files in the pipeline, the model loaded
once) vs `model.predict` on in-memory tensors of the same model (target ≥ 0.9), and each export format's size and images/s on this CPU.

Rounds alternate the two cases; medians and ranges are printed. The model is an untrained
MobileNetV2 at 224×224 (weights do not change the speed), the images 640×480 photo-like JPEGs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402
from bench_pipeline import write_jpegs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backbone", default="mobilenetv2")
    parser.add_argument("--formats", default="savedmodel,onnx,litert")
    args = parser.parse_args()

    from abyssexp.evaluation.predict import PredictInput, predict_with
    from abyssexp.models.export import export_model, parse_formats
    from abyssexp.models.factory import create_classifier
    from abyssexp.schemas.params import Params

    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    (work / "images").mkdir()
    coco = write_jpegs(work / "images", args.images, 640, 480)
    files = sorted((coco.parent).glob("*.jpg"))[: args.images]
    params = Params.model_validate({"model": {"backbone": args.backbone, "init_weights": "none"}})
    model = create_classifier(params, ["a", "b", "c"])
    path = work / "model.keras"
    model.save(path)
    size = tuple(model.input_shape[1:3])
    tensors = np.random.default_rng(0).uniform(0, 255, (len(files), *size, 3)).astype("float32")
    inputs = [PredictInput(p) for p in files]
    predict_with(model, inputs[:64], batch_size=32)  # warm-up: tracing, file cache
    model.predict(tensors[:64], batch_size=32, verbose=0)

    rates: dict[str, list[float]] = {"predict (files)": [], "model.predict (tensors)": []}
    for _ in range(args.rounds):
        started = time.perf_counter()
        predict_with(model, inputs, batch_size=32)
        rates["predict (files)"].append(len(files) / (time.perf_counter() - started))
        started = time.perf_counter()
        model.predict(tensors, batch_size=32, verbose=0)
        rates["model.predict (tensors)"].append(len(files) / (time.perf_counter() - started))
    ratios = [
        a / b
        for a, b in zip(rates["predict (files)"], rates["model.predict (tensors)"], strict=True)
    ]
    rows = [
        (name, f"{statistics.median(v):7.1f} images/s (range {min(v):.1f}-{max(v):.1f})")
        for name, v in rates.items()
    ]
    rows.append(
        (
            "predict / model.predict",
            f"{statistics.median(ratios):.2f} x "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}; target >= 0.9)",
        )
    )
    sample = tensors[:32]
    report = export_model(path, work / "exports", parse_formats(args.formats), sample)
    for name, row in report.formats.items():
        rows.append(
            (
                f"export {name}",
                f"{row['bytes'] / 1e6:6.1f} MB, {row['images_per_second']:7.1f} images/s, "
                f"max |diff| {row['max_abs_difference']:.1e}",
            )
        )
    table(rows, f"bench_deploy: {args.backbone} at {size[0]}x{size[1]}, {len(files)} JPEGs")


if __name__ == "__main__":
    main()

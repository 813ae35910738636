"""Does recomputing BatchNorm statistics fix a model that answers one class for everything?

The constant-model advice (experiment/caveats.py) names BatchNorm statistics first. This measures
it: the same small task trained from scratch with and without
``training.bn_recompute_batches``, over a few seeds, each a real `abyssexp` experiment
(new → train → test) in its own process.

Method: the shapes dataset (abyssexp's own generator), the 3-way supercategory task on only
``--train`` training images (default 60), validated on 60 and tested on 300; ``--backbone``
(default mobilenetv3small) at 64×64 from scratch, ``--epochs`` epochs (default 12), the backbone's
BatchNorm momentum left at ``--bn-momentum`` (default: Keras' 0.99, what a user gets from
``model.bn_momentum`` set to it or from a backbone built elsewhere; ``auto`` is abyssexp's
default). Printed per case: test accuracy and macro-F1 (median, range, every seed), the last
epoch's validation accuracy, and how many runs gave one answer for every test image.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import abyssexp, table  # noqa: E402


def common(args: argparse.Namespace, data: dict[str, Path]) -> list[str]:
    sets = {
        "model.backbone": args.backbone,
        "model.input_shape": "[64,64,3]",
        "model.init_weights": "none",
        "training.batch_size": "20",
        "training.lr": "0.002",
        "training.epochs": str(args.epochs),
        "callbacks.pr_curves": "false",
        "callbacks.tfpn": "false",
        "callbacks.log_images": "0",
        "dataset.map_by": "supercategory",
    }
    if args.bn_momentum != "auto":
        sets["model.bn_momentum"] = args.bn_momentum
    options = ["--train", str(data["train"]), "--val", str(data["val"])]
    for key, value in sets.items():
        options += ["--set", f"{key}={value}"]
    return options


def one_run(name: str, options: list[str], test: Path, env: dict[str, str]) -> dict[str, float]:
    root = Path(abyssexp("new", "bn", "bench", name, *options, env=env))
    abyssexp("train", str(root), "--quiet", env=env)
    abyssexp("test", str(root), "--coco", str(test), "--condition", "test", env=env)
    metrics = json.loads((root / "testing" / "test" / "metrics.json").read_text())
    with open(root / "logs" / "history.csv", newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "val_accuracy": float(last.get("val_accuracy") or "nan"),
        "constant": float(metrics.get("predicted_classes") == 1),
    }


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} (range {min(values):.3f}-{max(values):.3f}; "
        + ", ".join(f"{v:.3f}" for v in values)
        + ")"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--bn-momentum", default="0.99")
    parser.add_argument("--batches", type=int, default=20, help="bn_recompute_batches")
    args = parser.parse_args()
    from abyssexp.datasets.synthetic import write_shapes_dataset

    work = Path(tempfile.mkdtemp(prefix="bench-bn-"))
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(work / "scratch")}
    data = write_shapes_dataset(
        work / "data", {"train": args.train, "val": 60, "test": 300}, size=64, seed=3
    )
    cases = {"before": [], "after": ["--set", f"training.bn_recompute_batches={args.batches}"]}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for seed in range(args.seeds):
        for name, extra in cases.items():
            options = common(args, data) + ["--set", f"training.seed={seed}", *extra]
            results[name].append(one_run(f"{name}{seed}", options, data["test"], env))
    rows = []
    for name, runs in results.items():
        rows += [
            (f"{name} test accuracy", summary([r["accuracy"] for r in runs])),
            (f"{name} test macro-F1", summary([r["macro_f1"] for r in runs])),
            (f"{name} val accuracy (last epoch)", summary([r["val_accuracy"] for r in runs])),
            (f"{name} constant models", f"{int(sum(r['constant'] for r in runs))} of {len(runs)}"),
        ]
    table(
        rows,
        f"BatchNorm statistics: {args.backbone} from scratch, {args.train} training images, "
        f"bn_momentum {args.bn_momentum}, before = off, after = bn_recompute_batches="
        f"{args.batches}",
    )


if __name__ == "__main__":
    main()

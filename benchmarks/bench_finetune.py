"""Does the fine-tuning recipe matter? "Pretrain" a backbone on one synthetic task, then fine-tune it
on a smaller, related task three ways, over several seeds, and compare test accuracies.

Method: the shapes dataset (benchmarks use abyssexp's own generator). Pretraining: the 6-way
*category* task (circle, ellipse, square, ...) on 1,500 images, MobileNet at 64×64 from scratch.
Fine-tuning: the 3-way *supercategory* task (round, boxy, pointy) on only 60 training images drawn
with another seed, validated on 60 and tested on 300, for 8 epochs each:
  scratch      no pretraining (init_weights none), lr 2e-3
  one phase    init_weights = the pretrained best.keras, every layer trained at once, lr 2e-3
  two phase    the same weights, head only for 3 epochs at lr 2e-3, then the backbone at 2e-4
               (batch norm frozen)
Every run is a real `abyssexp` experiment (new → train → test) in its own process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import abyssexp, accuracy_rows, table, trained_accuracy  # noqa: E402

COMMON = [
    "--set",
    "model.backbone=mobilenet",
    "--set",
    "model.input_shape=[64,64,3]",
    "--set",
    "training.batch_size=20",
    "--set",
    "callbacks.pr_curves=false",
    "--set",
    "training.deterministic=true",
]
RECIPES = {
    "scratch": ["--set", "model.init_weights=none", "--set", "training.lr=0.002"],
    "one phase": ["--set", "training.lr=0.002"],
    "two phase": [
        "--set",
        "training.lr=0.002",
        "--set",
        "training.freeze_backbone_epochs=3",
        "--set",
        "training.finetune_lr=0.0002",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    from abyssexp.datasets.synthetic import write_shapes_dataset

    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(work / "scratch"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    big = write_shapes_dataset(work / "big", {"train": 1500, "val": 300}, size=64, seed=0)
    small = write_shapes_dataset(
        work / "small", {"train": 60, "val": 60, "test": 300}, size=64, seed=5
    )
    pretrained = abyssexp(
        "new",
        "bench",
        "pretrain",
        "category",
        "--train",
        str(big["train"]),
        "--val",
        str(big["val"]),
        *COMMON,
        "--set",
        "model.init_weights=none",
        "--set",
        "training.lr=0.002",
        "--set",
        "training.epochs=8",
        "--set",
        "dataset.map_by=category",
        env=env,
    )
    abyssexp("train", pretrained, "--quiet", env=env)
    weights = Path(pretrained) / "models" / "best.keras"
    results: dict[str, list[float]] = {name: [] for name in RECIPES}
    for seed in range(args.seeds):
        for name, recipe in RECIPES.items():
            init = [] if name == "scratch" else ["--set", f"model.init_weights={weights}"]
            accuracy = trained_accuracy(
                [
                    "bench",
                    "finetune",
                    name.replace(" ", "-"),
                    f"seed{seed}",
                    "--train",
                    str(small["train"]),
                    "--val",
                    str(small["val"]),
                    *COMMON,
                    *recipe,
                    *init,
                    "--set",
                    f"training.seed={seed}",
                    "--set",
                    f"training.epochs={args.epochs}",
                    "--set",
                    "dataset.map_by=supercategory",
                ],
                small["test"],
                env,
            )
            results[name].append(accuracy)
    rows = accuracy_rows(results)
    table(rows, f"bench_finetune: test accuracy on 300 images, {args.seeds} seeds")


if __name__ == "__main__":
    main()

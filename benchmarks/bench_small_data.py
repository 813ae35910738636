"""Do RandAugment, MixUp and CutMix help on a small dataset? Train the same small task with and
without them, over a few seeds, and compare test accuracies.

Method: the shapes dataset (abyssexp's own generator: photos-like backgrounds, textures, noise),
the 3-way supercategory task (round, boxy, pointy) on only 60 training images, validated on 60 and
tested on 300; MobileNet at 64×64, 12 epochs, from scratch, or (``--pretrain``) fine-tuned in two
phases from a backbone first trained on the 6-way category task (1,000 images, another seed):
  before   flips only (the seed's dict)
  after    flips + RandAugment (2 ops, magnitude 0.3, half the images) + MixUp (alpha 0.2)
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
    "model.init_weights=none",
    "--set",
    "training.batch_size=20",
    "--set",
    "training.lr=0.002",
    "--set",
    "callbacks.pr_curves=false",
    "--set",
    "callbacks.tfpn=false",
    "--set",
    "callbacks.log_images=0",
    "--set",
    "dataset.map_by=supercategory",
    "--set",
    "augmentation.enabled=true",
    "--set",
    "augmentation.flip_lr=true",
]
RECIPES = {
    "before": [],
    "after": [
        "--set",
        'augmentation.randaugment={"num_ops": 2, "magnitude": 0.3, "rate": 0.5}',
        "--set",
        'augmentation.mixup={"alpha": 0.2}',
    ],
}


def pretrained_start(work: Path, env: dict[str, str]) -> list[str]:
    """Train the backbone on the category task; the params that fine-tune from it."""
    from abyssexp.datasets.synthetic import write_shapes_dataset

    big = write_shapes_dataset(work / "big", {"train": 1000, "val": 200}, size=64, seed=0)
    root = abyssexp(
        "new",
        "bench",
        "pretrain",
        "category",
        "--train",
        str(big["train"]),
        "--val",
        str(big["val"]),
        *COMMON[:-4],
        "--set",
        "training.epochs=6",
        "--set",
        "dataset.map_by=category",
        env=env,
    )
    abyssexp("train", root, "--quiet", env=env)
    weights = Path(root) / "models" / "best.keras"
    return [
        "--set",
        f"model.init_weights={weights}",
        "--set",
        "training.freeze_backbone_epochs=3",
        "--set",
        "training.finetune_lr=0.0002",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--pretrain", action="store_true", help="fine-tune a pretrained backbone")
    args = parser.parse_args()
    from abyssexp.datasets.synthetic import write_shapes_dataset

    work = Path(tempfile.mkdtemp(prefix="bench-small-"))
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(work / "scratch"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    small = write_shapes_dataset(
        work / "small", {"train": 60, "val": 60, "test": 300}, size=64, seed=5
    )
    start = pretrained_start(work, env) if args.pretrain else []
    results: dict[str, list[float]] = {name: [] for name in RECIPES}
    for seed in range(args.seeds):
        for name, recipe in RECIPES.items():
            accuracy = trained_accuracy(
                [
                    "bench",
                    "small",
                    name,
                    f"seed{seed}",
                    "--train",
                    str(small["train"]),
                    "--val",
                    str(small["val"]),
                    *COMMON,
                    *recipe,
                    *start,
                    "--set",
                    f"training.seed={seed}",
                    "--set",
                    f"training.epochs={args.epochs}",
                ],
                small["test"],
                env,
            )
            results[name].append(accuracy)
    rows = accuracy_rows(results)
    start_text = "pretrained, two-phase" if args.pretrain else "from scratch"
    table(rows, f"bench_small_data ({start_text}): test accuracy on 300 images, {args.seeds} seeds")


if __name__ == "__main__":
    main()

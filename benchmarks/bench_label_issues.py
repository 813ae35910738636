"""Label issues: flip a share of a shapes dataset's labels on purpose, run a 5-fold sweep, and
measure how many of the flipped images ``data label-issues`` flags (recall) and how many of the
flagged images were flipped (precision).

Each case (a flip rate) makes its own noisy copy of one shapes dataset: ``round(rate × images)``
images, drawn with the seed, get a category of another supercategory (the classes the tiny
model learns, ``dataset.map_by=supercategory``), so every flip is a real label error. The sweep
is an ordinary ``sweep new --folds 5``; its trials are trained here, in this process, through
the same ``plan_training``/``train_experiment`` as ``abyssexp train`` (one TensorFlow start for
all of them), and each saves its out-of-fold predictions as it completes. Then
``find_sweep_label_issues`` ranks them with cleanlab, as the command does.

With ``--pretrain N`` (the default: 2,500) the fold models start from weights learned first on N
*other* shapes images (another seed, clean labels) at the 6-way *category* task, then fine-tuned
in two phases (head only for ``--freeze`` epochs, then everything at a tenth of the rate): the
stand-in for ImageNet weights, which cannot be downloaded here, as in ``bench_finetune.py``.
Confident learning ranks by how sure good models are; from scratch, on a thousand images, the
models are not good enough (docs/performance.md). ``--pretrain 0`` trains from scratch.

Printed per case: precision and recall of the flagged set, precision at k (the first k of the
ranking, k = the number flipped), the out-of-fold accuracy against the true labels, and the
time; with ``--repeats`` > 1 each is the median over repeats (different flip draws) with its
range. Goal (issue 30): precision and recall >= 0.8 at both rates.

    flock /tmp/abyssexp-heavy.lock python benchmarks/bench_label_issues.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

TINY = [
    "--set", "dataset.map_by=supercategory",
    "--set", "callbacks.pr_curves=false", "--set", "callbacks.tfpn=false",
    "--set", "callbacks.log_images=0", "--set", "training.lr_schedule=cosine",
]  # fmt: skip
#: The demo's light augmentation (``abyssexp demo``): what lets a model from scratch learn shapes.
AUGMENT = [
    "--set", "augmentation.enabled=true", "--set", "augmentation.flip_lr=true",
    "--set", "augmentation.flip_ud=true", "--set", "augmentation.some_of=1",
]  # fmt: skip


def abyssexp(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "abyssexp", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"abyssexp {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def flip_labels(source: Path, target: Path, rate: float, seed: int) -> set[int]:
    """Copy ``source`` to ``target`` with ``round(rate × images)`` labels moved to a category
    of another supercategory; returns the flipped image ids."""
    coco = json.loads(source.read_text())
    rng = random.Random(seed)
    ids = sorted(image["id"] for image in coco["images"])
    flipped = set(rng.sample(ids, round(rate * len(ids))))
    categories = coco["categories"]
    group = {c["id"]: c["supercategory"] for c in categories}
    for annotation in coco["annotations"]:
        if annotation["image_id"] in flipped:
            others = [
                c["id"]
                for c in categories
                if c["supercategory"] != group[annotation["category_id"]]
            ]
            annotation["category_id"] = rng.choice(others)
    for image in coco["images"]:  # file names stay relative to the source's folder
        image["path"] = str(source.parent / image["file_name"])
    target.write_text(json.dumps(coco))
    return flipped


def pretrain(work: Path, bench_train: Path, options: Any, env: dict[str, str]) -> list[str]:
    """Train the backbone on ``options.pretrain`` other images at the 6-way category task; the
    ``--set`` options that start a fold model from it (``model.init_weights=none`` when
    ``--pretrain 0``). Images near-duplicate to one of ``bench_train`` (flat synthetic shapes
    meet often: 61 of 1,500 with seeds 11 and 3) are left out, so the pretrained model never
    saw the true label of an image whose label the benchmark flips."""
    if not options.pretrain:
        return ["--set", "model.init_weights=none"]
    from abyssexp.datasets.leaks import find_leaks
    from abyssexp.datasets.synthetic import write_shapes_dataset

    size = options.size
    other = write_shapes_dataset(
        work / "pretrain", {"train": options.pretrain, "val": 150}, size=size, seed=11
    )
    near = find_leaks([other["train"], bench_train], near=True)["leaks"]
    seen = {
        side["image_id"]
        for leak in near
        if leak["kind"] != "same file_name"
        for side in (leak["a"], leak["b"])
        if side["file"] == str(other["train"])
    }
    coco = json.loads(other["train"].read_text())
    coco["images"] = [i for i in coco["images"] if i["id"] not in seen]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] not in seen]
    kept = other["train"].with_name("coco.pretrain.json")
    kept.write_text(json.dumps(coco))
    options.pretrain_kept = len(coco["images"])
    root = abyssexp(
        "new", "bench", "pretrain", "category", "--train", str(kept),
        "--val", str(other["val"]), *TINY, *AUGMENT, "--set", "model.init_weights=none",
        "--set", "dataset.map_by=category", "--set", f"model.input_shape=[{size},{size},3]",
        "--set", f"model.backbone={options.backbone}",
        "--set", f"training.epochs={options.pretrain_epochs}",
        "--set", f"training.batch_size={options.batch}", "--set", f"training.lr={options.lr}",
        env=env,
    )  # fmt: skip
    abyssexp("train", root, "--quiet", env=env)
    weights = Path(root) / "models" / "best.keras"
    return [
        "--set", f"model.init_weights={weights}",
        "--set", f"training.freeze_backbone_epochs={options.freeze}",
        "--set", f"training.finetune_lr={options.lr / 10}",
    ]  # fmt: skip


def run_case(
    work: Path,
    data: dict[str, Path],
    rate: float,
    seed: int,
    options: Any,
    env: dict[str, str],
    init: list[str],
) -> dict[str, float]:
    """One flip rate, one draw: make the noisy file, the base, the fold sweep; train; rank."""
    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.results.label_issues import find_sweep_label_issues
    from abyssexp.sweeps.trials import resolve_sweep
    from abyssexp.training.plan import TrainOptions, plan_training
    from abyssexp.training.run import train_experiment

    name = _name(rate, seed)
    noisy = work / f"{name}.json"
    flipped = flip_labels(data["train"], noisy, rate, seed)
    size = options.size
    base = abyssexp(
        "new", "bench", name, "shapes", "--train", str(noisy), "--val", str(data["val"]),
        *TINY, *AUGMENT, "--set", f"model.input_shape=[{size},{size},3]",
        "--set", f"model.backbone={options.backbone}", *init,
        "--set", f"training.epochs={options.epochs}", "--set", f"training.batch_size={options.batch}",
        "--set", f"training.lr={options.lr}", env=env,
    )  # fmt: skip
    sweep = abyssexp("sweep", "new", "bench", name, "folds", "--from", base, "--folds",
                     str(options.folds), "--random-seed", str(seed), env=env)  # fmt: skip
    scratch = Path(env["ABYSSEXP_SCRATCH"])
    started = time.perf_counter()
    for root in resolve_sweep(sweep, scratch).trial_roots():
        train_experiment(plan_training(ExperimentPaths(root), TrainOptions()))
    trained = time.perf_counter() - started
    result = find_sweep_label_issues(sweep, scratch, options.ranked_by)
    flagged = {issue.image_id for issue in result.issues}
    top = {issue.image_id for issue in result.issues[: len(flipped)]}
    hits = len(flagged & flipped)
    truth = _true_labels(data["train"])
    correct = [truth[i.image_id] in i.suggested for i in result.issues]
    return {
        "precision": hits / len(flagged) if flagged else float("nan"),
        "recall": hits / len(flipped),
        "precision_at_k": len(top & flipped) / len(flipped),
        "flagged": len(flagged),
        "flipped": len(flipped),
        "suggestion_right": sum(correct) / len(correct) if correct else float("nan"),
        "oof_accuracy": _oof_accuracy(scratch, sweep, truth),
        "agreement_with_given": result.agreement,
        "seconds": trained,
    }


def _name(rate: float, seed: int) -> str:
    return f"r{round(rate * 100)}s{seed}"


def _true_labels(source: Path) -> dict[int, str]:
    coco = json.loads(source.read_text())
    group = {c["id"]: c["supercategory"] for c in coco["categories"]}
    return {a["image_id"]: group[a["category_id"]] for a in coco["annotations"]}


def _oof_accuracy(scratch: Path, sweep: str, truth: dict[int, str]) -> float:
    """Out-of-fold top-1 accuracy against the labels before the flips."""
    from abyssexp.sweeps.trials import resolve_sweep

    right = seen = 0
    for root in resolve_sweep(sweep, scratch).trial_roots():
        for row in json.loads((root / "testing" / "heldout" / "predictions.json").read_text()):
            seen += 1
            right += truth[row["image_id"]] in row["predicted"]
    return right / seen


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--backbone", default="mobilenetv3small")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--pretrain", type=int, default=2500, help="0: from scratch.")
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--freeze", type=int, default=2, help="Head-only epochs after pretraining.")
    parser.add_argument("--rates", default="0.15,0.05")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ranked-by", default="self_confidence")
    parser.add_argument("--show-run", action="store_true", help="Print the command's output too.")
    options = parser.parse_args()
    from abyssexp.datasets.synthetic import write_shapes_dataset

    work = Path(tempfile.mkdtemp(prefix="bench-label-issues-"))
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(work / "scratch"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["ABYSSEXP_CONFIG"] = str(work / "none.toml")
    os.environ.update({k: env[k] for k in ("ABYSSEXP_SCRATCH", "ABYSSEXP_CONFIG")})
    data = write_shapes_dataset(
        work / "shapes", {"train": options.images, "val": 30}, size=options.size, seed=3
    )
    started = time.perf_counter()
    init = pretrain(work, data["train"], options, env)
    pretrained = time.perf_counter() - started
    start = (
        f"pretrained on {options.pretrain_kept} other images ({options.pretrain_epochs} epochs, "
        f"{pretrained:.0f} s), head only {options.freeze} epochs"
        if options.pretrain
        else "no weights"
    )
    rows = [
        ("setup", f"{options.images} shapes images {options.size}px, 3 classes, {options.backbone} "
         f"({start}), {options.epochs} epochs, {options.folds}-fold, "
         f"ranked by {options.ranked_by}, {options.repeats} draw(s) per rate"),
    ]  # fmt: skip
    rates = [float(r) for r in options.rates.split(",")]
    for rate in rates:
        runs = [
            run_case(work, data, rate, seed, options, env, init) for seed in range(options.repeats)
        ]
        label = f"{rate:.0%} flipped ({runs[0]['flipped']} images)"
        keys = ("precision", "recall", "precision_at_k", "suggestion_right", "oof_accuracy")
        for key in (*keys, "agreement_with_given"):
            rows.append((f"{label} {key}", _cell([r[key] for r in runs])))
        rows.append((f"{label} flagged", _cell([r["flagged"] for r in runs])))
        rows.append((f"{label} training s", _cell([r["seconds"] for r in runs])))
    table(rows, "label issues from out-of-fold predictions (bench_label_issues.py)")
    if options.show_run:  # the command on the last case's sweep, as docs/data.md shows it
        shown = subprocess.run(
            [sys.executable, "-m", "abyssexp", "data", "label-issues", f"bench/{_name(rates[0], 0)}/s001",
             "--top", "8"], env={**env, "COLUMNS": "80"}, capture_output=True, text=True,
        )  # fmt: skip
        print(f"\n$ abyssexp data label-issues bench/{_name(rates[0], 0)}/s001 --top 8")
        print(shown.stdout + shown.stderr)


if __name__ == "__main__":
    main()

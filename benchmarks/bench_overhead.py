"""What `abyssexp new` + `abyssexp train` cost on top of a plain Keras script doing the same
training: the same backbone, data (the same JPEGs and COCO files), image size, batch, epochs,
seed, a checkpoint per epoch and a CSV log. The script is written by this benchmark (what a user
would write by hand: tf.data decode + resize, keras.applications, ModelCheckpoint, CSVLogger).

Both run as child processes, interleaved in a shuffled order each round; each child's wall time
and CPU time (its own ``wait4`` usage: user + system, all threads) are measured. Running 3 and 10
epochs splits the cost into a fixed part (start-up to the first batch, and the end) and a per-epoch
part: per epoch = (T10 - T3) / 7, fixed = T3 - 3 * per epoch.

Targets (issue 24): per-epoch ≤ 1.03× the plain script; fixed ≤ 2 s beyond the plain script's;
`new` + `train` for 3 epochs ≤ 1.10× overall. The issue measured 1,500 JPEGs at 64 px; the
defaults here are smaller (``--images``) so that one run takes minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

PLAIN = """
import json, sys
from pathlib import Path

import keras
import tensorflow as tf

train_file, val_file, out, size, batch, epochs, seed = sys.argv[1:8]
backbone = sys.argv[8] if len(sys.argv) > 8 else "MobileNetV3Small"
if len(sys.argv) > 9 and sys.argv[9] == "mixed":
    keras.mixed_precision.set_global_policy("mixed_float16")
size, batch, epochs, seed = int(size), int(batch), int(epochs), int(seed)
keras.utils.set_random_seed(seed)


def split(coco_file):
    coco = json.loads(Path(coco_file).read_text())
    label = {a["image_id"]: a["category_id"] for a in coco["annotations"]}
    ids = sorted(c["id"] for c in coco["categories"])
    folder = Path(coco_file).parent
    files = [str(folder / i["file_name"]) for i in coco["images"] if i["id"] in label]
    targets = [ids.index(label[i["id"]]) for i in coco["images"] if i["id"] in label]
    return files, targets, len(ids)


def load(path, target):
    image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    image = tf.cast(tf.image.resize(image, (size, size)), tf.uint8)
    return image, tf.one_hot(target, classes)


files, targets, classes = split(train_file)
train = (
    tf.data.Dataset.from_tensor_slices((files, targets))
    .shuffle(len(files), seed=seed)
    .map(load, num_parallel_calls=tf.data.AUTOTUNE)
    .batch(batch)
    .prefetch(tf.data.AUTOTUNE)
)
vfiles, vtargets, _ = split(val_file)
val = (
    tf.data.Dataset.from_tensor_slices((vfiles, vtargets))
    .map(load, num_parallel_calls=tf.data.AUTOTUNE)
    .batch(batch)
    .prefetch(tf.data.AUTOTUNE)
)
inputs = keras.Input((size, size, 3))
base = getattr(keras.applications, backbone)(
    input_shape=(size, size, 3), include_top=False, weights=None
)
x = keras.layers.GlobalAveragePooling2D()(base(inputs))
x = keras.layers.Dense(classes)(x)
outputs = keras.layers.Activation("softmax", dtype="float32")(x)
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"]
)
Path(out, "models").mkdir(parents=True, exist_ok=True)
model.fit(
    train,
    validation_data=val,
    epochs=epochs,
    verbose=0,
    callbacks=[
        keras.callbacks.ModelCheckpoint(str(Path(out, "models", "model_{epoch:03d}.keras"))),
        keras.callbacks.CSVLogger(str(Path(out, "history.csv"))),
    ],
)
"""


def run_measured(
    command: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of one child process: CPU from its own ``wait4`` usage."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command[:6])}... failed:\n{err.read()[-3000:]}")
        return wall, usage.ru_utime + usage.ru_stime, out.read()


def abyssexp_case(
    data: dict[str, Path], work: Path, args: argparse.Namespace, epochs: int, code: str = ""
):
    """`abyssexp new` then `abyssexp train` (two processes, as a user runs them); ``code``: a
    folder holding another version of the ``abyssexp`` package (``--base``), first on the path."""
    env = {
        **os.environ,
        **({"PYTHONPATH": code} if code else {}),
        "ABYSSEXP_SCRATCH": str(work / "scratch"),
        "ABYSSEXP_CONFIG": str(work / "none.toml"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    sets = {
        "model.backbone": getattr(args, "backbone", "mobilenetv3small"),
        "model.init_weights": "none",
        "model.input_shape": f"[{args.size},{args.size},3]",
        "training.batch_size": str(args.batch),
        "training.lr": "1e-3",
        "training.epochs": str(epochs),
        "training.seed": "0",
        "training.mixed_precision": str(getattr(args, "mixed", False)).lower(),
    }
    options = [item for key, value in sets.items() for item in ("--set", f"{key}={value}")]
    abyssexp = [sys.executable, "-m", "abyssexp"]
    new = [*abyssexp, "new", "bench", f"e{epochs}", "shapes", "--train", str(data["train"])]
    new += ["--val", str(data["val"]), *options]
    # From the scratch folder: `python -m` puts the working folder first on the path, and the
    # checkout the benchmark runs from would shadow --base.
    wall_new, cpu_new, out = run_measured(new, env, cwd=work)
    ref = out.strip().splitlines()[-1]
    wall, cpu, _ = run_measured([*abyssexp, "train", ref], env, cwd=work)
    return wall_new + wall, cpu_new + cpu


def plain_case(data: dict[str, Path], work: Path, args: argparse.Namespace, epochs: int):
    script = work / "plain_keras.py"
    out = Path(tempfile.mkdtemp(prefix="plain-", dir=work))
    command = [sys.executable, str(script), str(data["train"]), str(data["val"]), str(out)]
    command += [str(args.size), str(args.batch), str(epochs), "0"]
    command += [getattr(args, "keras_backbone", "MobileNetV3Small")]
    command += ["mixed" if getattr(args, "mixed", False) else "float32"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    wall, cpu, _ = run_measured(command, env)
    return wall, cpu


def summary(name: str, values: list[float], unit: str = "s") -> tuple[str, str]:
    ordered = sorted(values)
    return name, (f"{statistics.median(ordered):.2f}{unit} ({ordered[0]:.2f}-{ordered[-1]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300, help="training JPEGs (issue: 1,500)")
    parser.add_argument("--val-images", type=int, default=60)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", default="3,10", help="two epoch counts, fewest first")
    parser.add_argument(
        "--base",
        default="",
        help="a folder with another abyssexp version (e.g. `git archive main` unpacked): run "
        "too, interleaved, as 'base', for before/after figures under the same load",
    )
    args = parser.parse_args()
    short, long = (int(n) for n in args.epochs.split(","))
    from abyssexp.datasets.synthetic import write_shapes_dataset

    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        work = Path(tmp)
        (work / "plain_keras.py").write_text(PLAIN)
        data = write_shapes_dataset(
            work / "shapes", {"train": args.images, "val": args.val_images}, size=160, seed=1
        )
        tools = {"abyssexp": abyssexp_case, "plain": plain_case}
        if args.base:
            tools["base"] = partial(abyssexp_case, code=str(Path(args.base).resolve()))
        cases = {
            (tool, epochs): (tools[tool], epochs) for tool in tools for epochs in (short, long)
        }
        samples: dict[tuple[str, int], list[tuple[float, float]]] = {key: [] for key in cases}
        for round_ in range(args.repeats):
            keys = list(cases)
            random.Random(round_).shuffle(keys)
            for key in keys:
                function, epochs = cases[key]
                samples[key].append(function(data, work, args, epochs))
                print(f"round {round_ + 1}: {key[0]} {epochs} epochs: "
                      f"{samples[key][-1][0]:.1f} s wall, {samples[key][-1][1]:.1f} s CPU",
                      file=sys.stderr)  # fmt: skip
    report(samples, short, long, args)


def report(samples, short: int, long: int, args: argparse.Namespace) -> None:
    """Ratios per round (abyssexp / plain of the same round), then medians and ranges; the same
    for the ``--base`` version when given."""
    rows = [("images, size, batch", f"{args.images} train + {args.val_images} val JPEGs, "
             f"{args.size} px, batch {args.batch}, MobileNetV3Small, no weights")]  # fmt: skip
    for tool in [t for t in ("abyssexp", "base") if (t, short) in samples]:
        if tool == "base":
            rows.append(("--base", args.base))
        rows += measures(samples, tool, short, long)
    table(rows, f"bench_overhead (median of {args.repeats} rounds, lowest-highest)")


def measures(samples, tool: str, short: int, long: int) -> list[tuple[str, str]]:
    """Wall and CPU rows of one abyssexp version against the plain script."""
    rows = []
    for index, measure in ((0, "wall"), (1, "CPU")):
        measure = measure if tool == "abyssexp" else f"{measure} (base)"
        ours = {e: [s[index] for s in samples[(tool, e)]] for e in (short, long)}
        plain = {e: [s[index] for s in samples[("plain", e)]] for e in (short, long)}
        for epochs in (short, long):
            rows.append(summary(f"{measure}: abyssexp new+train, {epochs} epochs", ours[epochs]))
            rows.append(summary(f"{measure}: plain Keras script, {epochs} epochs", plain[epochs]))
            ratios = [a / b for a, b in zip(ours[epochs], plain[epochs], strict=True)]
            rows.append(summary(f"{measure}: ratio, {epochs} epochs (target ≤ 1.10)", ratios, "×"))
        span = long - short
        per = {
            tool: [(b - a) / span for a, b in zip(data[short], data[long], strict=True)]
            for tool, data in (("abyssexp", ours), ("plain", plain))
        }
        fixed = {
            tool: [a - short * p for a, p in zip(data[short], per[tool], strict=True)]
            for tool, data in (("abyssexp", ours), ("plain", plain))
        }
        rows.append(summary(f"{measure}: per epoch, abyssexp", per["abyssexp"]))
        rows.append(summary(f"{measure}: per epoch, plain", per["plain"]))
        ratios = [a / b for a, b in zip(per["abyssexp"], per["plain"], strict=True)]
        rows.append(summary(f"{measure}: per-epoch ratio (target ≤ 1.03)", ratios, "×"))
        rows.append(summary(f"{measure}: fixed cost, abyssexp", fixed["abyssexp"]))
        rows.append(summary(f"{measure}: fixed cost, plain", fixed["plain"]))
        extra = [a - b for a, b in zip(fixed["abyssexp"], fixed["plain"], strict=True)]
        rows.append(summary(f"{measure}: fixed cost beyond plain (target ≤ 2 s)", extra))
    return rows


if __name__ == "__main__":
    main()

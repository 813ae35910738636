"""Generate the examples of docs/output.md by running abyssexp for real.

    python docs/output_examples.py        # rewrites the generated part of docs/output.md

Two tiny experiments (the ``tinycnn`` backbone) are made, trained (for two epochs, on a
32-pixel shapes dataset), tested and one promoted, in ``/tmp/abyssexp-docs`` (a fixed folder, so the paths shown never change);
then ``list``, ``show``, ``compare`` and the train log are captured as they print: at 80
columns (``COLUMNS=80``, what a terminal of that width gets) and in a pipe.
``tests/cli/test_output_docs.py`` runs this again and checks docs/output.md still matches it
(numbers and times aside).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = Path("/tmp/abyssexp-docs")
TINY = [
    *("--set", "model.backbone=tinycnn", "--set", "model.init_weights=none"),
    *("--set", "model.input_shape=[32,32,3]", "--set", "training.batch_size=16"),
    *("--set", "dataset.map_by=supercategory", "--set", "training.epochs=2"),
]
NAME = "shapes-32px"


def _env(columns: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env |= {
        "ABYSSEXP_SCRATCH": str(BASE / "scratch"),
        "ABYSSEXP_STORE": str(BASE / "store"),
        "ABYSSEXP_CONFIG": str(BASE / "none.toml"),
        "PYTHONPATH": str(ROOT),
    }
    if columns:
        env["COLUMNS"] = str(columns)
    return env


def run(*args: str, columns: int | None = 80, merged: bool = False) -> subprocess.CompletedProcess:
    """``abyssexp ARGS`` at ``columns`` (None: a pipe); ``merged``: stderr into stdout, in the
    order they were written (``2>&1 | cat``)."""
    done = subprocess.run(
        [sys.executable, "-m", "abyssexp", *args],
        env=_env(columns),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise SystemExit(f"abyssexp {' '.join(args)} failed:\n{done.stderr or done.stdout}")
    return done


def on_a_terminal(*args: str, columns: int = 80) -> str:
    """What ``abyssexp ARGS`` writes to a terminal ``columns`` wide (a pseudo-terminal), with
    the live bars' cursor movements taken out: the lines that stay on the screen."""
    import pty

    master, slave = pty.openpty()
    env = _env(columns) | {"TERM": "xterm-256color", "LINES": "40"}
    process = subprocess.Popen(
        [sys.executable, "-m", "abyssexp", *args], env=env, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the command has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=900)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", b"".join(chunks).decode())
    return "\n".join(line.split("\r")[-1] for line in text.splitlines())


def make_scene() -> dict[str, str]:
    """Two experiments trained, tested, tagged; the first promoted. Returns their refs and
    the train log of the second, as a pipe got it."""
    from abyssexp.datasets.synthetic import write_shapes_dataset

    shutil.rmtree(BASE, ignore_errors=True)
    data = write_shapes_dataset(BASE / "shapes", {"train": 48, "val": 24, "test": 24}, size=32)
    common = ["--train", str(data["train"]), "--val", str(data["val"]), *TINY]
    run("new", "shapes", "classification", NAME, "lr2e-3", *common, "--note", "Baseline",
        "--set", "training.lr=0.002")  # fmt: skip
    first = "shapes/classification/1"
    run("new", "shapes", "classification", NAME, "lr1e-3", "--from", first,
        "--set", "training.lr=0.001", "--note", "Lower learning rate")  # fmt: skip
    second = "shapes/classification/2"
    terminal = on_a_terminal("train", first)
    log = run("train", second, columns=None, merged=True)  # `abyssexp train ... 2>&1 | cat`
    for ref in (first, second):
        run("test", ref, "--coco", str(data["test"]), "--condition", "shapes-test")
    run("tag", first, "baseline")
    # A tiny model on 24 test images: promote asks for these caveats by name (issue 29).
    accept = "small_test_set,constant_predictions"
    run("promote", first, "--alias", "candidate", "--accept", accept)
    epochs = [line for line in terminal.splitlines() if re.match(r"epoch \d+/\d+ ", line)]
    return {"first": first, "second": second, "log": log.stdout, "terminal": "\n".join(epochs)}


def _block(command: str, text: str) -> list[str]:
    return ["```console", f"$ {command}", text.rstrip("\n"), "```", ""]


def render(scene: dict[str, str]) -> str:
    """The generated part of docs/output.md."""
    lines = [
        "## As they print",
        "",
        "<!-- Generated by `python docs/output_examples.py`; a test checks it",
        "     (tests/cli/test_output_docs.py). Do not edit by hand. -->",
        "",
        "At 80 columns (`COLUMNS=80`, or a terminal that wide):",
        "",
    ]
    for args in (["list"], ["show", scene["first"]], ["compare", "shapes/classification/*"]):
        lines += _block(f"abyssexp {' '.join(args)}", run(*args).stdout)
    lines += ["At 60 columns `list` folds further and says what it hid:", ""]
    lines += _block("abyssexp list", run("list", columns=60).stdout)
    lines += [
        "A train log in a pipe or a log file (`--quiet`, `--on local`, Slurm): one line per",
        "epoch with every number Keras logged, however long the line:",
        "",
    ]
    lines += _block(f"abyssexp train {scene['second']} 2>&1 | cat", scene["log"])
    lines += [
        f"The same on an 80-column terminal (`abyssexp train {scene['first']}`): the live bars",
        "go when training ends; each epoch's compact line stays:",
        "",
        "```text",
        scene["terminal"],
        "```",
        "",
    ]
    return "\n".join(lines)


GENERATED = "## As they print"
DOC = ROOT / "docs" / "output.md"


def written_part() -> str:
    """docs/output.md up to its generated part (written by hand: the policy)."""
    return DOC.read_text().split(GENERATED, 1)[0]


def generated_part() -> str:
    """docs/output.md's generated part, as it stands."""
    text = DOC.read_text()
    return GENERATED + text.split(GENERATED, 1)[1] if GENERATED in text else ""


@contextlib.contextmanager
def scene_lock():
    """Hold ``BASE``'s lock while a scene is made and rendered: the folder is fixed (so the
    paths shown never change), and two runs on one machine (two checkouts' test suites at
    once) would otherwise delete each other's experiments."""
    with open(f"{BASE}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main() -> None:
    with scene_lock():
        DOC.write_text(written_part() + render(make_scene()))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()

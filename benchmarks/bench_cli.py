"""`abyssexp list` (table and JSON) over 5,000 experiments and `abyssexp --help`: medians and
ranges of repeated runs; then `list`, `--filter`, `--changed` and `compare` over 500, 5,000
and 20,000 (``SCALING_COMMANDS``).

The first experiment is made by the real `create_experiment`; the others are copies of it with
their own number and record (as real ones would look on disk). Targets on the 2-core CI
machine: list < 1 s, help < 0.3 s. Scaling (`--scaling`): each experiment also has a finished
run's logs/history.csv and its own learning rate (every params.json differs, so nothing is
shared between experiments); each command must cost the same CPU per 1,000 experiments at
every size (linear), and at 20,000 (issue 33, CPU of the whole process): `list` 0.5 s,
`--filter` 0.8 s, `list --changed --csv` 1.5 s, `compare`'s second run 2 s, under 150 MiB.
The scaling trees take minutes to build: `--keep DIR` builds them once and reuses them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402


def timed(fn, repeats: int, warmup: int = 1) -> tuple[float, float, float]:
    """(median, fastest, slowest) seconds of ``repeats`` runs after ``warmup``."""
    import statistics
    import time

    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples), max(samples)


def shown(figures: tuple[float, float, float], target: str = "") -> str:
    median, low, high = figures
    return f"{median:.3f} s  ({low:.3f}-{high:.3f}){f'  (target {target})' if target else ''}"


HISTORY = "epoch,loss,accuracy,val_loss,val_accuracy,lr\n" + "".join(
    f"{e},{1 / e:.4f},{0.5 + e / 40:.4f},{1.1 / e:.4f},{0.45 + e / 40:.4f},0.001\n"
    for e in range(1, 11)
)


def build(scratch: Path, count: int, distinct: bool = False) -> None:
    """``count`` experiments; ``distinct``: each with a history and a learning rate of its own."""
    from abyssexp.experiment.create import NewExperimentRequest, create_experiment

    first = create_experiment(
        NewExperimentRequest(
            scratch=scratch,
            project="bench",
            experiment_type="cls",
            dataset_info="ds",
            command_line=["bench"],
        )
    ).path
    record = json.loads((first / "record.json").read_text())
    for number in range(2, count + 1):
        project = f"bench{number % 5}"
        target = scratch / project / "cls" / f"{number:03d}.ds.run{number}"
        shutil.copytree(first, target)
        record.update(
            number=number,
            name=target.name,
            project=project,
            status="completed",
            epochs_done=10,
            best={"metric": "val_loss", "value": 1.0 / number, "epoch": 7},
        )
        (target / "record.json").write_text(json.dumps(record))
        if distinct:
            params = json.loads((target / "models" / "params.json").read_text())
            params["training"]["lr"] = round(1e-3 * (1 + number / 1e5), 9)
            (target / "models" / "params.json").write_text(json.dumps(params, indent=2))
            (target / "logs" / "history.csv").write_text(HISTORY)
    if distinct:
        (first / "logs" / "history.csv").write_text(HISTORY)


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak memory MiB) of one child process, from its own ``wait4`` usage."""
    import time

    start = time.perf_counter()
    child = subprocess.Popen(  # started in the scratch: `-m` must not import from the cwd
        command,
        env=env,
        cwd=env.get("ABYSSEXP_SCRATCH"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0, child.stderr.read().decode()[-2000:]
    child.returncode = 0
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


#: The commands ``--scaling`` measures (issue 33's targets at 20,000: list 0.5 s, --filter
#: 0.8 s, list --changed --csv 1.5 s, compare's second run 2 s, CPU).
SCALING_COMMANDS = {
    "list": ["list"],
    "list --filter": ["list", "--filter", "training.lr<1e-3"],
    "list --changed": ["list", "--changed"],
    "list --changed --csv": ["list", "--changed", "--csv"],
    "compare '*/cls'": ["compare", "*/cls"],
}


def trees(sizes: list[int], root: Path) -> dict[int, Path]:
    """A scratch of each size under ``root``, built once and kept (``.done`` marks a whole one):
    20,000 experiment folders take minutes to copy."""
    scratches = {}
    for size in sizes:
        scratches[size] = root / f"scratch{size}"
        if not (scratches[size] / ".done").exists():
            shutil.rmtree(scratches[size], ignore_errors=True)
            build(scratches[size], size, distinct=True)
            (scratches[size] / ".done").write_text("")
    return scratches


def scaling(
    sizes: list[int],
    repeats: int,
    base: list[Path] | None = None,
    only: str | None = None,
    keep: Path | None = None,
) -> None:
    """``SCALING_COMMANDS`` (tables at 80 columns) at each size, interleaved; ``base``: other
    abyssexp checkouts run the same way in the same rounds on the same folders (before/after);
    ``only``: these commands (names, comma-separated); ``keep``: build the scratches there once and
    reuse them (else in a temporary folder)."""
    import random
    import statistics
    from itertools import pairwise

    commands = dict(SCALING_COMMANDS)
    if only:
        commands = {k: v for k, v in commands.items() if k in only.split(",")}
    versions = {"": None, **{f" [{path.name}]": path for path in base or []}}
    commands = {
        name + tag: (args, code)
        for name, args in commands.items()
        for tag, code in versions.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        scratches = trees(sizes, keep or Path(tmp))
        samples: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
        cases = [(name, size) for name in commands for size in sizes]
        for round_ in range(repeats + 1):  # the first round warms the page cache
            random.Random(round_).shuffle(cases)
            for name, size in cases:
                args, code = commands[name]
                env = {
                    **os.environ,
                    "ABYSSEXP_SCRATCH": str(scratches[size]),
                    "ABYSSEXP_CONFIG": str(Path(tmp) / "none"),
                    "COLUMNS": "80",
                    **({"PYTHONPATH": str(code)} if code else {}),
                }
                figures = measured([sys.executable, "-m", "abyssexp", *args], env)
                if round_:
                    samples.setdefault((name, size), []).append(figures)
    rows = []
    for name in commands:
        cpus = [statistics.median(r[1] for r in samples[(name, size)]) for size in sizes]
        growth = [
            f"{1e6 * (cpu_b - cpu_a) / (b - a):.0f}"
            for (a, cpu_a), (b, cpu_b) in pairwise(zip(sizes, cpus, strict=True))
        ]
        rows.append(
            (f"{name}: CPU per 1,000 beyond start-up", " → ".join(growth) + " ms (flat = linear)")
        )
        for size in sizes:
            runs = samples[(name, size)]
            wall = sorted(r[0] for r in runs)
            cpu = sorted(r[1] for r in runs)
            memory = max(r[2] for r in runs)
            rows.append(
                (
                    f"{name}, {size:,} experiments",
                    f"wall {statistics.median(wall):.2f} s ({wall[0]:.2f}-{wall[-1]:.2f})  "
                    f"CPU {statistics.median(cpu):.2f} s ({cpu[0]:.2f}-{cpu[-1]:.2f})  "
                    f"= {1000 * statistics.median(cpu) / size * 1000:.0f} ms per 1,000  "
                    f"{memory:.0f} MiB",
                )
            )
    table(rows, f"bench_cli scaling (median of {repeats} runs, fastest-slowest; peak memory)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--scaling", default="500,5000,20000", help="Sizes for compare/list --changed ('' skips)."
    )
    parser.add_argument("--skip-list", action="store_true", help="Only the scaling part.")
    parser.add_argument(
        "--base",
        type=Path,
        action="append",
        help="Scaling: also run this checkout (PYTHONPATH), interleaved; repeatable.",
    )
    parser.add_argument("--only", help="Scaling: these commands, by name, comma-separated.")
    parser.add_argument("--keep", type=Path, help="Scaling: build the scratches here once.")
    args = parser.parse_args()
    if not args.skip_list:
        list_and_help(args)
    if args.scaling:
        sizes = [int(n) for n in args.scaling.split(",")]
        scaling(sizes, args.repeats, args.base, args.only, args.keep)


def list_and_help(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "scratch"
        build(scratch, args.experiments)
        env = {
            **os.environ,
            "ABYSSEXP_SCRATCH": str(scratch),
            "ABYSSEXP_CONFIG": str(Path(tmp) / "none"),
        }
        abyssexp = [sys.executable, "-m", "abyssexp"]

        def run(*extra: str, columns: str = "80") -> None:
            result = subprocess.run(
                [*abyssexp, *extra], env={**env, "COLUMNS": columns}, capture_output=True
            )
            assert result.returncode == 0, result.stderr.decode()

        listed = json.loads(
            subprocess.run([*abyssexp, "list", "--json"], env=env, capture_output=True).stdout
        )
        assert len(listed) == args.experiments, len(listed)
        list_json = timed(lambda: run("list", "--json"), args.repeats)
        list_table = timed(lambda: run("list"), args.repeats)
        list_wide = timed(lambda: run("list", "--wide", columns="200"), args.repeats)
        table_1000 = timed(lambda: run("list", "bench1"), args.repeats)
        help_s = timed(lambda: run("--help"), args.repeats * 2)
        python_s = timed(lambda: subprocess.run([sys.executable, "-c", "pass"]), args.repeats * 2)
    n = f"{args.experiments:,}"
    table(
        [
            ("experiments", n),
            (f"abyssexp list --json ({n} rows)", shown(list_json, "< 1 s")),
            (f"abyssexp list, table at 80 columns ({n} rows)", shown(list_table, "< 1 s")),
            (f"abyssexp list --wide, 200 columns ({n} rows)", shown(list_wide)),
            ("abyssexp list bench1 (1,000 rows, table)", shown(table_1000)),
            ("abyssexp --help", shown(help_s, "< 0.3 s")),
            ("bare python startup", shown(python_s)),
        ],
        f"bench_cli (median of {args.repeats} runs, fastest-slowest)",
    )


if __name__ == "__main__":
    main()

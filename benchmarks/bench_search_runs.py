"""`abyssexp list` against MLflow's `search_runs` over the same experiments (issue 33's peer).

Run with a Python that has MLflow and abyssexp (``make test-mlflow``'s virtualenv):

    .venv-mlflow/bin/python benchmarks/bench_search_runs.py --sizes 500,5000 --keep /tmp/trees

Method: the scratch trees of ``bench_cli.py --scaling`` (each experiment with its own params, a
10-epoch history and a record; ``--keep`` shares them with it), and for each size an MLflow
tracking store holding the same content, written by ``bench_mlflow_sync.py``'s plain
``log_batch`` script (every param, every epoch's metrics, the mirror's tags) into sqlite, the
backend MLflow reads fastest without a server. Then whole processes, CPU seconds from
``wait4``, in shuffled rounds after a warm-up round:

- ``list`` ↔ ``mlflow.search_runs(search_all_experiments=True)``: every run, one row each;
- ``list --changed --csv`` ↔ the same ``search_runs`` written with ``DataFrame.to_csv``: every
  run with the params that vary (MLflow's frame carries every param, metric and tag).

Prints each with its median and range, the ratio abyssexp/MLflow (issue 33's goal: ≤ 0.1 at
5,000 and 20,000) and each one's cost per 1,000 beyond its start-up. Building the MLflow store
costs about 35 ms a run here (12 minutes at 20,000): ``--keep`` builds it once.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402
from bench_cli import measured, trees  # noqa: E402
from bench_mlflow_sync import PLAIN  # noqa: E402

SEARCH = r"""
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
frame = mlflow.search_runs(search_all_experiments=True, max_results=int(sys.argv[2]))
assert len(frame) == int(sys.argv[2]), len(frame)
if sys.argv[3] == "csv":
    frame.to_csv(sys.stdout, index=False)
"""

#: (abyssexp args, MLflow output) for each pair measured.
PAIRS = {
    "list": (["list"], "none"),
    "list --changed --csv": (["list", "--changed", "--csv"], "csv"),
}


def mlflow_store(scratch: Path, size: int) -> str:
    """An sqlite MLflow store beside ``scratch`` holding its experiments (built once)."""
    database = scratch.parent / f"mlflow{size}.db"
    done = scratch.parent / f"mlflow{size}.done"
    uri = f"sqlite:///{database}"
    if not done.exists():
        database.unlink(missing_ok=True)
        print(f"building the MLflow store of {size:,} runs ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-c", PLAIN, str(scratch), uri], check=True)
        done.write_text("")
    return uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,5000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Build the trees and stores there once.")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        keep = args.keep or Path(tmp)
        scratches = trees(sizes, keep)
        stores = {size: mlflow_store(scratches[size], size) for size in sizes}
        env = {**os.environ, "ABYSSEXP_CONFIG": str(Path(tmp) / "none"), "COLUMNS": "80"}
        cases = [
            (pair, tool, size)
            for pair in PAIRS
            for tool in ("abyssexp", "mlflow")
            for size in sizes
        ]
        cpu: dict[tuple[str, str, int], list[float]] = {}
        for round_ in range(args.repeats + 1):  # the first round warms the page cache
            random.Random(round_).shuffle(cases)
            for pair, tool, size in cases:
                run_env = {**env, "ABYSSEXP_SCRATCH": str(scratches[size])}
                own, output = PAIRS[pair]
                command = (
                    [sys.executable, "-m", "abyssexp", *own]
                    if tool == "abyssexp"
                    else [sys.executable, "-c", SEARCH, stores[size], str(size), output]
                )
                figures = measured(command, run_env)
                if round_:
                    cpu.setdefault((pair, tool, size), []).append(figures[1])
    table(_rows(cpu, sizes), f"abyssexp vs MLflow search_runs (CPU s, median of {args.repeats})")


def _rows(cpu: dict[tuple[str, str, int], list[float]], sizes: list[int]) -> list[tuple[str, str]]:
    rows = []
    for pair in PAIRS:
        for size in sizes:
            ours, theirs = cpu[(pair, "abyssexp", size)], cpu[(pair, "mlflow", size)]
            rows.append(
                (
                    f"{pair}, {size:,}",
                    f"abyssexp {_shown(ours)}  MLflow {_shown(theirs)}  "
                    f"ratio {statistics.median(ours) / statistics.median(theirs):.3f}",
                )
            )
        for tool in ("abyssexp", "mlflow"):
            low, high = sizes[0], sizes[-1]
            slope = (
                statistics.median(cpu[(pair, tool, high)])
                - statistics.median(cpu[(pair, tool, low)])
            ) / (high - low)
            rows.append((f"{pair}: {tool} per 1,000 beyond start-up", f"{slope * 1e6:.0f} ms"))
    return rows


def _shown(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()

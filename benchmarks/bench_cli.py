"""`abyssexp list` (table and JSON) over 5,000 experiments and `abyssexp --help`: medians and
ranges of repeated runs.

The first experiment is made by the real `create_experiment`; the other 4,999 are copies of it with
their own number and record (as 5,000 real ones would look on disk). Targets on the 2-core CI
machine: list < 1 s, help < 0.3 s.
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


def build(scratch: Path, count: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
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

"""`abyssexp list --json` over 5,000 experiments and `abyssexp --help`: medians of repeated runs.

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
from _common import median_time, table  # noqa: E402


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

        def run(*extra: str) -> None:
            result = subprocess.run([*abyssexp, *extra], env=env, capture_output=True)
            assert result.returncode == 0, result.stderr.decode()

        listed = json.loads(
            subprocess.run([*abyssexp, "list", "--json"], env=env, capture_output=True).stdout
        )
        assert len(listed) == args.experiments, len(listed)
        list_s = median_time(lambda: run("list", "--json"), repeats=args.repeats)
        table_s = median_time(lambda: run("list", "bench1"), repeats=args.repeats)
        help_s = median_time(lambda: run("--help"), repeats=args.repeats * 2)
        python_s = median_time(
            lambda: subprocess.run([sys.executable, "-c", "pass"]), repeats=args.repeats * 2
        )
    table(
        [
            ("experiments", str(args.experiments)),
            ("abyssexp list --json (median)", f"{list_s:.3f} s  (target < 1 s)"),
            ("abyssexp list bench1 (1,000 rows, table)", f"{table_s:.3f} s"),
            ("abyssexp --help (median)", f"{help_s:.3f} s  (target < 0.3 s)"),
            ("bare python startup (median)", f"{python_s:.3f} s"),
        ],
        "bench_cli",
    )


if __name__ == "__main__":
    main()

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.experiment.numbering import claim_next_number, highest_number


def test_claims_follow_highest_present(tmp_path: Path) -> None:
    (tmp_path / "004.old").mkdir()
    (tmp_path / "notes").mkdir()
    number, claim = claim_next_number(tmp_path)
    assert number == 5
    assert claim.is_dir()
    assert claim_next_number(tmp_path)[0] == 6
    assert highest_number(tmp_path) == 6


def test_beyond_999_keeps_counting(tmp_path: Path) -> None:
    (tmp_path / "999.x").mkdir()
    assert claim_next_number(tmp_path)[0] == 1000
    (tmp_path / "1000.x").mkdir()
    assert claim_next_number(tmp_path)[0] == 1001


@pytest.mark.slow
def test_32_concurrent_new_processes_get_distinct_numbers(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    env = {
        **os.environ,
        "ABYSSEXP_SCRATCH": str(scratch),
        "ABYSSEXP_CONFIG": str(tmp_path / "none"),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "abyssexp", "new", "proj", "race", "ds", f"run{i}", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for i in range(32)
    ]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for _stdout, stderr, code in results:
        assert code == 0, stderr
    numbers = sorted(json.loads(stdout)["number"] for stdout, _, _ in results)
    assert numbers == list(range(1, 33))
    folders = sorted(
        p.name for p in (scratch / "proj" / "race").iterdir() if not p.name.startswith(".")
    )
    assert len(folders) == 32
    assert len({f.split(".")[0] for f in folders}) == 32

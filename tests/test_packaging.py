import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_templates(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("abyssexp-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "abyssexp/templates/readme.txt" in names
    assert {
        "abyssexp/templates/report/report.html.j2",
        "abyssexp/templates/report/report.css",
    } <= set(names)
    assert any(n.endswith("entry_points.txt") for n in names)

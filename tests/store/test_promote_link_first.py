"""``promote --export`` into a store whose project folder is a link is refused before the
export starts (issue 31 case 16: it refused only after minutes of exporting)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from abyssexp.cli import app


def test_linked_store_project_is_refused_before_the_export(
    runner, scratch: Path, shapes, tmp_path: Path
) -> None:
    made = runner.invoke(app, ["new", "proj", "cls", "d", "--train", str(shapes["train"])])
    assert made.exit_code == 0, made.output
    root = Path(made.stdout.strip().splitlines()[-1])
    # Not a model: an export that started would fail on it, not on the link.
    (root / "models" / "best.keras").write_bytes(b"not a model")
    store = tmp_path / "store"
    outside = tmp_path / "outside" / "proj"
    outside.mkdir(parents=True)
    store.mkdir()
    (store / "proj").symlink_to(outside)
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom abyssexp.cli import app\n"
        f"r = CliRunner().invoke(app, ['promote', {str(root)!r}, '--store', {str(store)!r}, "
        "'--force-untested', '--export', 'onnx'])\n"
        "print(r.output)\nprint('EXIT', r.exit_code)\n"
        "print('TF', 'tensorflow' in sys.modules or 'keras' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        env=dict(os.environ),
        check=True,
    )
    assert "TF False" in done.stdout, done.stdout + done.stderr  # the export never started
    assert "EXIT 0" not in done.stdout and "symlink" in done.stdout, done.stdout
    assert not any(outside.iterdir())

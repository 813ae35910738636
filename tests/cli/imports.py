"""What a command imports: the fast-CLI rule (only commands that train, evaluate, export or
predict import TensorFlow) is checked in a fresh process, where nothing was imported before."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def _env(home: Path) -> dict[str, str]:
    """A scratch, store and config of its own under ``home``; the checkout on the path."""
    return {
        "ABYSSEXP_SCRATCH": str(home / "s"),
        "ABYSSEXP_STORE": str(home / "store"),
        "ABYSSEXP_CONFIG": str(home / "none"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }


def modules_loaded_by(args: Sequence[str], modules: Sequence[str], home: Path) -> list[str]:
    """Which of ``modules`` a fresh ``abyssexp ARGS`` has imported when it ends."""
    code = (
        "import json, sys\n"
        "from abyssexp.cli.app import app\n"
        "try:\n"
        f"    app({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', json.dumps([m for m in {tuple(modules)!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=_env(home), capture_output=True, text=True
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, result.stdout + result.stderr
    loaded: list[str] = json.loads(line.removeprefix("LOADED "))
    return loaded


def make_experiment(home: Path) -> None:
    """``abyssexp new p t d`` in ``home``'s scratch (for the commands that name p/t/1)."""
    subprocess.run(
        [sys.executable, "-m", "abyssexp", "new", "p", "t", "d"],
        env=_env(home),
        capture_output=True,
    )

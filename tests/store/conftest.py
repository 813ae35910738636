"""Tested experiments to promote: promotion never loads the model, so a checkpoint of random bytes
and a ``testing/cond/metrics.json`` stand in for a trained, tested model (no TensorFlow, fast)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from abyssexp.cli import app
from abyssexp.experiment.record import record_test


def make_tested(runner: Any, name: str = "ds", size: int = 1 << 16, accuracy: float = 0.93) -> Path:
    """``new proj cls NAME``, a ``best.keras`` and ``model_3.keras``, a tested ``cond`` condition."""
    result = runner.invoke(app, ["new", "proj", "cls", name])
    assert result.exit_code == 0, result.output
    root = Path(result.stdout.strip().splitlines()[-1])
    (root / "models" / "best.keras").write_bytes(os.urandom(size))
    (root / "models" / "model_3.keras").write_bytes(b"epoch 3")
    condition = root / "testing" / "cond"
    condition.mkdir(parents=True)
    (condition / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "macro_f1": 0.9}))
    record_test(root / "record.json", "cond", {"accuracy": accuracy})
    return root


@pytest.fixture
def tested(runner: Any, scratch: Path) -> Callable[..., Path]:
    """A factory of tested experiments under the test's scratch root."""
    return lambda name="ds", **kwargs: make_tested(runner, name, **kwargs)


def one_line_error(output: str) -> str:
    """The single line a failing command printed (asserting it is one line, no traceback)."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]

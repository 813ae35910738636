"""``mlflow sync`` where MLflow is not installed (the project's own virtualenv): one line that
says how to install it, exit 2, nothing written. The sync itself: test_mlflow_sync.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import new_tiny


@pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is not None, reason="MLflow is installed here"
)
def test_sync_without_mlflow_says_how_to_install(runner, scratch: Path, shapes) -> None:
    root = new_tiny(runner, shapes)
    result = runner.invoke(app, ["mlflow", "sync", "--all", "--tracking-uri", "sqlite:///x.db"])
    assert result.exit_code == 2, result.output
    assert "pip install 'abyssexp[mlflow]'" in result.output
    assert "Traceback" not in result.output
    assert not (root / "logs" / "mlflow.json").exists()


def test_sync_needs_refs_or_all(runner, scratch: Path) -> None:
    result = runner.invoke(app, ["mlflow", "sync"])
    assert result.exit_code == 2, result.output
    assert "--all" in result.output

"""``mlflow sync`` where MLflow is not installed (the project's own virtualenv): one line that
says how to install it, exit 2, nothing written. The sync itself: test_mlflow_mirror.py."""

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


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("http://", "no host or port"),
        ("http://127.0.0.1:99999", "Port out of range"),
        ("ftp://host/x", "unknown scheme 'ftp'"),
        ("sqlite://", "no database file"),
        ("http://user:secret@:5000", "no host or port"),
        ("x\x1b[31m", "control characters"),
    ],
)
def test_a_malformed_tracking_uri_is_one_line(runner, scratch: Path, uri: str, says: str) -> None:
    """Issue 31 case 9: malformed URIs gave tracebacks; credentials never reach a message."""
    result = runner.invoke(app, ["mlflow", "sync", "--all", "--tracking-uri", uri])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], result.output
    assert "secret" not in result.output and "Traceback" not in result.output


def test_a_tracking_folder_inside_the_scratch_is_refused(runner, scratch: Path) -> None:
    for uri in (str(scratch / "mlruns"), (scratch / "p" / "mlruns").as_uri()):
        result = runner.invoke(app, ["mlflow", "sync", "--all", "--tracking-uri", uri])
        assert result.exit_code == 2, result.output
        assert "inside the scratch root" in result.output


def test_prune_goes_with_all_only(runner, scratch: Path) -> None:
    result = runner.invoke(
        app, ["mlflow", "sync", "p/t/1", "--prune", "--tracking-uri", "sqlite:////tmp/x.db"]
    )
    assert result.exit_code == 2 and "--prune: only with --all" in result.output

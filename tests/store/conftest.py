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
from abyssexp.experiment.record_file import record_test


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Any:
    """A real S3-compatible server (moto's) on 127.0.0.1, started for the session and stopped."""
    pytest.importorskip("s3fs", reason="s3fs not installed (the s3 extra: pip install -e '.[dev]')")
    server_module = pytest.importorskip(
        "moto.server", reason="moto[server] not installed (the dev extra: pip install -e '.[dev]')"
    )
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str, scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh bucket on the test server; ``ABYSSEXP_STORE`` points at ``s3://<bucket>/models``
    and the AWS variables at the server (as a user configures an S3-compatible endpoint)."""
    import uuid

    import boto3

    from abyssexp.config import parse_store

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("ABYSSEXP_CACHE", str(tmp_path / "cache"))
    bucket = f"abyss-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/models"
    monkeypatch.setenv("ABYSSEXP_STORE", url)
    return parse_store(url)


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """boto3, to look at (and tamper with) the bucket directly, as another tool would."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )

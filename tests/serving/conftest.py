"""A real ``abyssexp serve`` process on 127.0.0.1 and the promoted models it serves.

The models are ``trained_pair``'s two tiny experiments (trained once per test process),
copied and promoted into a folder store of this module's own (promotion writes to the
experiment's record, and ``trained_pair`` is shared read-only). Every server is started on a
free port, waited for on ``/readyz``, and stopped by its pid in the fixture's finalizer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import s3_endpoint, s3_store  # noqa: F401 - the moto S3 server

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running ``abyssexp serve`` process and where it answers."""

    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for the exit code (a graceful stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def start_server(args: list[str], log: Path, env: dict[str, str] | None = None) -> Server:
    """``abyssexp serve ARGS --port P`` in a process of its own, ready to answer."""
    import httpx

    port = free_port()
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "abyssexp", "serve", *args, "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=log.parent,
    )
    handle.close()
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise AssertionError(f"serve never became ready:\n{server.output()}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers; each is stopped by its pid when the test ends (killed if it hangs)."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        server = start_server(list(args), tmp_path / f"serve-{len(started)}.log", env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGTERM)
            try:
                server.process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(server.process.pid, signal.SIGKILL)
                server.process.wait()


@dataclass(frozen=True)
class PromotedPair:
    """Two promoted models in a folder store; ``proj/train@production`` points at ``first``."""

    store: Path
    scratch: Path
    first: Path
    second: Path
    images: list[Path]

    def checksum(self, promoted: Path) -> str:
        for line in (promoted / "MANIFEST.sha256").read_text().splitlines():
            digest, _, name = line.partition("  ")
            if name == "model.keras":
                return digest
        raise AssertionError(f"{promoted}: no model.keras in the manifest")

    def env(self) -> dict[str, str]:
        return {"ABYSSEXP_SCRATCH": str(self.scratch), "ABYSSEXP_STORE": str(self.store)}


@pytest.fixture(scope="module")
def promoted_pair(trained_pair: Any, shapes: dict[str, Path], tmp_path_factory) -> PromotedPair:
    from typer.testing import CliRunner

    from abyssexp.cli import app

    base = tmp_path_factory.mktemp("serving")
    scratch, store = base / "scratch", base / "store"
    shutil.copytree(trained_pair.scratch, scratch, symlinks=True)
    first = scratch / trained_pair.first.relative_to(trained_pair.scratch)
    second = scratch / trained_pair.second.relative_to(trained_pair.scratch)
    runner = CliRunner()
    # Tiny models tested on 24 images: their caveats are accepted by name (issue 29).
    common = [
        "--scratch",
        str(scratch),
        "--store",
        str(store),
        "--accept",
        "constant_predictions,small_test_set",
    ]
    for root, extra in ((first, ["--alias", "production"]), (second, [])):
        result = runner.invoke(app, ["promote", str(root), *extra, *common])
        assert result.exit_code == 0, result.output
    promoted = store / "proj" / "train"
    data = json.loads(shapes["test"].read_text())
    images = [shapes["test"].parent / image["file_name"] for image in data["images"]][:8]
    return PromotedPair(store, scratch, promoted / first.name, promoted / second.name, images)

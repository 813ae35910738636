"""``abyssexp mlflow sync`` against a plain MLflow client script, on a real tracking server.

Run with a Python that has MLflow and abyssexp (``make test-mlflow``'s virtualenv):

    .venv-mlflow/bin/python benchmarks/bench_mlflow_sync.py --sizes 100 300 --rounds 3

It starts ``mlflow server`` (sqlite backend, 127.0.0.1, a free port) from that virtualenv, builds
N experiments as ``bench_cli.py`` does (each with params, a 10-epoch history, a record), and
times three whole processes per round, in a shuffled order:

- ``sync``: ``abyssexp mlflow sync --all`` into fresh MLflow experiments (the first sync);
- ``plain``: a script that logs the same params, per-epoch metrics and tags (the mirror's tag
  names and values) with ``log_batch``
  (one ``create_run`` and one ``log_batch`` per run, one experiment lookup per MLflow
  experiment): what a user would write by hand, the peer;
- ``again``: the same ``mlflow sync --all`` a second time, nothing changed.

Prints medians and ranges (wall seconds) and the ratios the issue sets: sync/plain ≤ 1.1,
again/sync ≤ 0.05.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import build  # noqa: E402

PLAIN = r"""
import csv, json, sys
from pathlib import Path
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

scratch, uri = Path(sys.argv[1]), sys.argv[2]
client = MlflowClient(tracking_uri=uri)
experiments = {}
for folder in sorted(scratch.glob("*/*/[0-9]*")):
    name = f"{folder.parent.parent.name}/{folder.parent.name}"
    if name not in experiments:
        found = client.get_experiment_by_name(name)
        experiments[name] = found.experiment_id if found else client.create_experiment(name)
    params = json.loads((folder / "models" / "params.json").read_text())
    flat = {}
    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            flat[prefix] = str(value)[:500]
    walk("", params)
    run = client.create_run(experiments[name], run_name=folder.name)
    metrics = []
    with open(folder / "logs" / "history.csv") as handle:
        for row in csv.DictReader(handle):
            step = int(row.pop("epoch"))
            metrics += [Metric(k, float(v), 0, step) for k, v in row.items() if v]
    record = json.loads((folder / "record.json").read_text())
    provenance = folder / "logs" / "provenance.json"
    git = (json.loads(provenance.read_text()) if provenance.exists() else {}).get("git") or {}
    values = {  # the tags the mirror sets, so that both send the same content
        "abyssexp.experiment": f"{name}/{folder.name}", "abyssexp.path": str(folder),
        "abyssexp.status": str(record.get("status")), "abyssexp.tags": "",
        "mlflow.note.content": str(record.get("note") or ""),
        "mlflow.source.git.commit": str(git.get("commit") or ""),
        "abyssexp.git.branch": str(git.get("branch") or ""),
        "abyssexp.git.dirty": str(git.get("dirty", "")), "abyssexp.sweep": "",
        "abyssexp.promoted": "", "abyssexp.error": "", "abyssexp.scratch": str(scratch),
        "abyssexp.host": "bench",
    }
    tags = [RunTag(k, v) for k, v in values.items() if v]
    params_list = [Param(k, v) for k, v in flat.items()]
    for start in range(0, max(len(params_list), 1), 100):
        client.log_batch(run.info.run_id, params=params_list[start : start + 100],
                         metrics=metrics if start == 0 else [], tags=tags if start == 0 else [])
    client.set_terminated(run.info.run_id)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` from this Python's virtualenv, ready to answer."""
    import urllib.request

    port = _free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        + ["--backend-store-uri", f"sqlite:///{folder}/mlflow.db"]
        + ["--default-artifact-root", str(folder / "artifacts")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            return server, uri
        except OSError:
            time.sleep(1)
    server.kill()
    raise SystemExit("mlflow server did not start in 120 s")


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def one_round(size: int, top: Path, uri: str, index: int) -> dict[str, float]:
    """The three cases on two fresh scratches of ``size`` experiments (own project names)."""
    scratches = {}
    for case in ("sync", "plain"):
        scratch = top / f"r{index}-{case}"
        build(scratch, size, distinct=True)
        for project in sorted(p for p in scratch.iterdir() if p.name.startswith("bench")):
            project.rename(scratch / f"{project.name}x{index}{case}")  # fresh MLflow experiments
        scratches[case] = scratch
    env = {**os.environ, "ABYSSEXP_CONFIG": str(top / "none.toml")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")  # no calls home, both cases
    sync = [sys.executable, "-m", "abyssexp", "mlflow", "sync", "--all", "--tracking-uri", uri]
    order = ["sync", "plain"]
    random.shuffle(order)
    figures: dict[str, float] = {}
    for case in order:
        scratch = scratches[case]
        env["ABYSSEXP_SCRATCH"] = str(scratch)
        if case == "sync":
            figures["sync"] = timed([*sync, "--scratch", str(scratch)], env)
            figures["again"] = timed([*sync, "--scratch", str(scratch)], env)
        else:
            figures["plain"] = timed([sys.executable, "-c", PLAIN, str(scratch), uri], env)
    for scratch in scratches.values():
        shutil.rmtree(scratch)
    return figures


def shown(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        top = Path(tmp)
        server, uri = start_server(top)
        try:
            print(
                f"# mlflow sync vs a plain log_batch script, {uri}, load {os.getloadavg()[0]:.1f}"
            )
            for size in args.sizes:
                rounds = [one_round(size, top, uri, i + size) for i in range(args.rounds)]
                series = {k: [r[k] for r in rounds] for k in ("sync", "plain", "again")}
                ratio = [r["sync"] / r["plain"] for r in rounds]
                again = [r["again"] / r["sync"] for r in rounds]
                print(f"\n## {size} experiments, {args.rounds} rounds (wall, median (range))")
                print(f"mlflow sync --all (first)   {shown(series['sync'])}")
                print(f"plain log_batch script      {shown(series['plain'])}")
                print(f"mlflow sync --all (again)   {shown(series['again'])}")
                print(
                    f"sync / plain                {statistics.median(ratio):5.2f}x "
                    f"({min(ratio):.2f}-{max(ratio):.2f})  (goal <= 1.1)"
                )
                print(
                    f"again / first               {statistics.median(again):5.3f}x "
                    f"({min(again):.3f}-{max(again):.3f})  (goal <= 0.05)"
                )
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()

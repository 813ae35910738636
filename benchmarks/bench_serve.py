"""`abyssexp serve` under load vs in-process `model.predict` of the same model on the same images.

A real server process (`abyssexp serve model.keras`) answers POST /v1/predict (one JPEG per
request) from several client processes (httpx, keep-alive) at concurrency 1, 8 and 32; each level
runs for --seconds, --rounds times. In-process: `model.predict` on the same images, already
decoded, at the server's batch limit (--max-batch), and `predict_on_batch` of one image (what a
single request costs the model). Printed: throughput and p50/p99 latency per level (medians over
rounds, with ranges), the ratio to in-process throughput (goal at 32: >= 0.7) and p50 at 1 minus
one in-process call (goal: <= 10 ms). If MLflow is importable, the same load against
`mlflow models serve` would be a row; it is not run otherwise.

The clients share the CPU with the server: on a small machine they take cores the server would
use, so the ratio is a lower bound of what separate client machines would see.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402
from bench_pipeline import write_jpegs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _client(url: str, images: list[bytes], threads: int, seconds: float, out) -> None:
    """One client process: ``threads`` keep-alive connections posting images for ``seconds``."""
    import httpx

    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def loop(offset: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = offset
            while time.perf_counter() < stop_at:
                body = images[i % len(images)]
                started = time.perf_counter()
                response = client.post(
                    f"{url}/v1/predict", content=body, headers={"Content-Type": "image/jpeg"}
                )
                spent = time.perf_counter() - started
                with lock:
                    if response.status_code == 200:
                        latencies.append(spent)
                    else:
                        failures[0] += 1
                i += 1

    workers = [threading.Thread(target=loop, args=(k * 7,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put((latencies, failures[0]))


def load(url: str, images: list[bytes], concurrency: int, seconds: float) -> dict[str, float]:
    """Throughput (answers/s) and p50/p99 latency (ms) at ``concurrency`` requests in flight."""
    processes = min(concurrency, 4)
    shares = [concurrency // processes + (k < concurrency % processes) for k in range(processes)]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    started = time.perf_counter()
    clients = [
        multiprocessing.Process(target=_client, args=(url, images, n, seconds, queue))
        for n in shares
    ]
    for client in clients:
        client.start()
    results = [queue.get() for _ in clients]
    wall = time.perf_counter() - started
    for client in clients:
        client.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    failures = sum(f for _, f in results)
    return {
        "rate": len(latencies) / wall,
        "p50": 1000 * float(np.percentile(latencies, 50)),
        "p99": 1000 * float(np.percentile(latencies, 99)),
        "failures": failures,
    }


def start_server(model: Path, max_batch: int, work: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (work / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "abyssexp", "serve", str(model), "--port", str(port)]
        + ["--max-batch", str(max_batch), "--scratch", str(work)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the server never became ready; see {work / 'serve.log'}")


def in_process(model_path: Path, files: list[Path], max_batch: int, rounds: int) -> dict:
    """``model.predict`` of the decoded images at ``max_batch``, and one image's call."""
    import tensorflow as tf

    from abyssexp.datasets.pipeline import make_image_batches
    from abyssexp.models.classifier import load_keras_model

    model = load_keras_model(model_path, compile=False)
    size = tuple(model.input_shape[1:3])
    decoded = np.concatenate(list(make_image_batches(files, size, 64).as_numpy_iterator()))
    tensors = tf.constant(decoded)
    model.predict(tensors, batch_size=max_batch, verbose=0)
    one = decoded[:1]
    for _ in range(5):
        model.predict_on_batch(one)
    rates, singles = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        model.predict(tensors, batch_size=max_batch, verbose=0)
        rates.append(len(decoded) / (time.perf_counter() - started))
        for _ in range(20):
            started = time.perf_counter()
            model.predict_on_batch(one)
            singles.append(1000 * (time.perf_counter() - started))
    return {"rates": rates, "single_ms": statistics.median(singles)}


def _spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--backbone", default="mobilenetv2")
    parser.add_argument("--size", type=int, default=128, help="model input side")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args()

    from abyssexp.models.factory import create_classifier
    from abyssexp.schemas.params import Params

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    (work / "images").mkdir()
    write_jpegs(work / "images", args.images, 2 * args.size, 3 * args.size // 2)
    files = sorted((work / "images").glob("*.jpg"))
    params = Params.model_validate(
        {
            "model": {
                "backbone": args.backbone,
                "init_weights": "none",
                "input_shape": [args.size, args.size, 3],
            }
        }
    )
    model_path = work / "model.keras"
    create_classifier(params, ["a", "b", "c"]).save(model_path)
    baseline = in_process(model_path, files, args.max_batch, args.rounds)

    process, url = start_server(model_path, args.max_batch, work)
    images = [p.read_bytes() for p in files]
    levels = [int(x) for x in args.levels.split(",")]
    runs: dict[int, list[dict[str, float]]] = {c: [] for c in levels}
    try:
        load(url, images, 4, 2.0)  # warm-up: connections, the server's first batches
        for _ in range(args.rounds):
            for concurrency in levels:
                runs[concurrency].append(load(url, images, concurrency, args.seconds))
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(120)

    rate_in = statistics.median(baseline["rates"])
    rows = [
        (
            f"in-process model.predict, batch {args.max_batch}",
            f"{_spread(baseline['rates'], '.1f')} images/s",
        ),
        ("in-process predict_on_batch, 1 image", f"{baseline['single_ms']:.1f} ms"),
    ]
    for concurrency, results in runs.items():
        rates = [r["rate"] for r in results]
        rows.append(
            (
                f"serve, concurrency {concurrency}",
                f"{_spread(rates, '.1f')} answers/s, p50 "
                f"{_spread([r['p50'] for r in results], '.1f')} ms, p99 "
                f"{_spread([r['p99'] for r in results], '.1f')} ms, "
                f"{sum(r['failures'] for r in results):.0f} failed",
            )
        )
        rows.append(
            (
                f"  ratio to in-process at {concurrency}",
                f"{_spread([r / rate_in for r in rates], '.2f')} x"
                + ("  (goal >= 0.7)" if concurrency == 32 else ""),
            )
        )
    if 1 in runs:
        gaps = [r["p50"] - baseline["single_ms"] for r in runs[1]]
        rows.append(("p50 at 1 - one in-process call", f"{_spread(gaps, '.1f')} ms (goal <= 10)"))
    try:
        import mlflow  # noqa: F401

        rows.append(("mlflow models serve", "installed, but this benchmark has no MLflow row yet"))
    except ImportError:
        rows.append(("mlflow models serve", "not installed here: no side-by-side row"))
    rows.append(("server exit code after SIGTERM", str(code)))
    rows.append(("cores", str(os.cpu_count())))
    table(
        rows,
        f"serve: {args.backbone} at {args.size}x{args.size}, {len(files)} JPEGs "
        f"{2 * args.size}x{3 * args.size // 2}, max batch {args.max_batch}",
    )


if __name__ == "__main__":
    main()

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


def _client(url: str, images: list[bytes], threads: int, window: tuple[float, float], out) -> None:
    """One client process: ``threads`` keep-alive connections posting images from ``window[0]``
    to ``window[1]`` (wall-clock times shared by every client process, so start-up is not
    counted); puts the latencies of the answers that finished inside the window."""
    import httpx

    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def loop(offset: int) -> None:
        with httpx.Client(timeout=60) as client:
            time.sleep(max(0.0, window[0] - time.time()))
            i = offset
            while time.time() < window[1]:
                body = images[i % len(images)]
                started = time.perf_counter()
                response = client.post(
                    f"{url}/v1/predict", content=body, headers={"Content-Type": "image/jpeg"}
                )
                spent = time.perf_counter() - started
                with lock:
                    if response.status_code != 200:
                        failures[0] += 1
                    elif time.time() <= window[1]:
                        latencies.append(spent)
                i += 1

    workers = [threading.Thread(target=loop, args=(k * 7,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put((latencies, failures[0]))


def load(url: str, images: list[bytes], concurrency: int, seconds: float) -> dict[str, float]:
    """Throughput (answers/s) and p50/p99 latency (ms) at ``concurrency`` requests in flight,
    from up to 4 client processes, counted over the same ``seconds`` for all of them."""
    processes = min(concurrency, 4)
    shares = [concurrency // processes + (k < concurrency % processes) for k in range(processes)]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start = time.time() + 3.0  # time for the client processes to start and connect
    clients = [
        multiprocessing.Process(
            target=_client, args=(url, images, n, (start, start + seconds), queue)
        )
        for n in shares
    ]
    for client in clients:
        client.start()
    results = [queue.get() for _ in clients]
    for client in clients:
        client.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    return {
        "rate": len(latencies) / seconds,
        "p50": 1000 * float(np.percentile(latencies, 50)),
        "p99": 1000 * float(np.percentile(latencies, 99)),
        "failures": sum(f for _, f in results),
    }


def start_server(
    model: Path, max_batch: int, work: Path, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (work / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "abyssexp", "serve", str(model), "--port", str(port)]
        + ["--max-batch", str(max_batch), "--scratch", str(work), *extra],
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


class InProcess:
    """The same model in this process: ``model.predict`` of the decoded images at the batch
    limit, and ``predict_on_batch`` of one image (what one request costs the model)."""

    def __init__(self, model_path: Path, files: list[Path], max_batch: int) -> None:
        import tensorflow as tf

        from abyssexp.datasets.pipeline import make_image_batches
        from abyssexp.models.classifier import load_keras_model

        self.model = load_keras_model(model_path, compile=False)
        size = tuple(self.model.input_shape[1:3])
        decoded = np.concatenate(list(make_image_batches(files, size, 64).as_numpy_iterator()))
        self.tensors, self.one, self.max_batch = tf.constant(decoded), decoded[:1], max_batch
        self.model.predict(self.tensors, batch_size=max_batch, verbose=0)
        for _ in range(5):
            self.model.predict_on_batch(self.one)

    def rate(self) -> float:
        started = time.perf_counter()
        self.model.predict(self.tensors, batch_size=self.max_batch, verbose=0)
        return len(self.tensors) / (time.perf_counter() - started)

    def single_ms(self, calls: int = 20) -> float:
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            self.model.predict_on_batch(self.one)
            times.append(1000 * (time.perf_counter() - started))
        return statistics.median(times)


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
    parser.add_argument("--window-ms", default="5")
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
    baseline = InProcess(model_path, files, args.max_batch)
    process, url = start_server(model_path, args.max_batch, work, ("--window-ms", args.window_ms))
    images = [p.read_bytes() for p in files]
    levels = [int(x) for x in args.levels.split(",")]
    runs: dict[int, list[dict[str, float]]] = {c: [] for c in levels}
    rates_in: list[float] = []
    singles: list[float] = []
    try:
        load(url, images, 4, 2.0)  # warm-up: connections, the server's first batches
        for _ in range(args.rounds):  # in-process and served alternate: the same load on both
            rates_in.append(baseline.rate())
            singles.append(baseline.single_ms())
            for concurrency in levels:
                runs[concurrency].append(load(url, images, concurrency, args.seconds))
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(120)
    print_results(args, len(files), rates_in, singles, runs, code)


def print_results(
    args: argparse.Namespace,
    count: int,
    rates_in: list[float],
    singles: list[float],
    runs: dict[int, list[dict[str, float]]],
    code: int,
) -> None:
    rows = [
        (f"in-process model.predict, batch {args.max_batch}", f"{_spread(rates_in, '.1f')} img/s"),
        ("in-process predict_on_batch, 1 image", f"{_spread(singles, '.1f')} ms"),
    ]
    for concurrency, results in runs.items():
        rates = [r["rate"] for r in results]
        ratios = [r / i for r, i in zip(rates, rates_in, strict=True)]
        rows += [
            (f"serve, concurrency {concurrency}", f"{_spread(rates, '.1f')} answers/s"),
            (
                "  p50 / p99",
                f"{_spread([r['p50'] for r in results], '.1f')} ms / "
                f"{_spread([r['p99'] for r in results], '.1f')} ms",
            ),
            (
                "  ratio to in-process",
                f"{_spread(ratios, '.2f')} x" + ("  (goal >= 0.7)" if concurrency == 32 else ""),
            ),
            ("  failed requests", f"{sum(r['failures'] for r in results):.0f}"),
        ]
    if 1 in runs:
        gaps = [r["p50"] - one for r, one in zip(runs[1], singles, strict=True)]
        rows.append(("p50 at 1 - one in-process call", f"{_spread(gaps, '.1f')} ms (goal <= 10)"))
    try:
        import mlflow  # noqa: F401

        rows.append(("mlflow models serve", "installed, but this benchmark has no MLflow row yet"))
    except ImportError:
        rows.append(("mlflow models serve", "not installed here: no side-by-side row"))
    rows += [("server exit code after SIGTERM", str(code)), ("cores", str(os.cpu_count()))]
    table(
        rows,
        f"serve: {args.backbone} at {args.size}x{args.size}, {count} JPEGs "
        f"{2 * args.size}x{3 * args.size // 2}, max batch {args.max_batch}, window "
        f"{args.window_ms} ms; medians (ranges) of {args.rounds} rounds",
    )


if __name__ == "__main__":
    main()

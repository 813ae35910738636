"""``abyssexp serve`` as a client meets it: a real server process, real HTTP (httpx).

Its answers equal ``predict``'s on the same files; concurrent requests share model calls; an
alias moved mid-stream swaps the model without a dropped request (and a model that fails
verification is refused); hostile requests get a 4xx JSON answer; SIGTERM finishes what is in
flight and exits 0.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from abyssexp.cli import app
from tests.conftest import write_bomb_jpeg
from tests.serving.conftest import PromotedPair

#: Tiny models tested on 24 images: moving an alias to one accepts its caveats by name.
ACCEPT = "constant_predictions,small_test_set"

httpx = pytest.importorskip("httpx", reason="httpx not installed (the serve extra)")


def post_image(url: str, path: Path, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/predict",
        content=path.read_bytes(),
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
        **kwargs,
    )


def metric(text: str, name: str) -> float:
    """The value of one sample of the Prometheus text, by its full name (0 when absent)."""
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    return 0.0


@pytest.mark.slow
def test_answers_equal_predict_and_batches_concurrent_requests(
    promoted_pair: PromotedPair, serve, runner
) -> None:
    pair = promoted_pair
    server = serve(str(pair.first), "--window-ms", "1000", env=pair.env())
    alone = []
    for _ in range(5):
        started = time.perf_counter()
        assert post_image(server.url, pair.images[0]).status_code == 200
        alone.append(time.perf_counter() - started)
    # One request alone is answered at once: nothing else is on its way, no window to wait.
    assert statistics.median(alone) < 0.5, alone

    expected = runner.invoke(
        app, ["predict", str(pair.first), *map(str, pair.images), "--json"], env={"COLUMNS": "80"}
    )
    assert expected.exit_code == 0, expected.output
    wanted = json.loads(expected.stdout)["predictions"]
    single = [post_image(server.url, path).json() for path in pair.images]
    files = [("image", (p.name, p.read_bytes(), "image/jpeg")) for p in pair.images]
    several = httpx.post(f"{server.url}/v1/predict", files=files, timeout=60).json()
    assert several["images"] == len(pair.images)
    assert [row["file_name"] for row in several["predictions"]] == [p.name for p in pair.images]
    got = [answer["predictions"][0] for answer in single]
    for rows in (got, several["predictions"]):
        for row, want in zip(rows, wanted, strict=True):
            assert row["predicted"] == want["predicted"]
            assert [name for name, _ in row["top_k"]] == [name for name, _ in want["top_k"]]
            for name, score in want["scores"].items():
                assert row["scores"][name] == pytest.approx(score, abs=1e-5)
    answer = single[0]
    assert answer["model"] == pair.first.name and answer["alias"] is None
    assert answer["checksum"] == pair.checksum(pair.first)
    assert answer["class_names"] == json.loads(expected.stdout)["class_names"]

    before = httpx.get(f"{server.url}/metrics").text
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda p: post_image(server.url, p), pair.images * 4))
    assert all(a.status_code == 200 for a in answers)
    after = httpx.get(f"{server.url}/metrics").text
    calls = metric(after, "abyssexp_batch_images_count") - metric(
        before, "abyssexp_batch_images_count"
    )
    images = metric(after, "abyssexp_batch_images_sum") - metric(
        before, "abyssexp_batch_images_sum"
    )
    assert images == len(answers) and calls < len(answers), (calls, images)
    assert 'abyssexp_requests_total{endpoint="/v1/predict",status="200"}' in after


def _stream(url: str, image: Path, stop: threading.Event, out: list[Any]) -> None:
    while not stop.is_set():
        try:
            response = post_image(url, image)
            out.append((response.status_code, response.json()))
        except httpx.HTTPError as exc:  # a dropped request: recorded, and the test fails
            out.append((0, repr(exc)))


def _wait_for(url: str, check, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = httpx.get(f"{url}/v1/model", timeout=10).json()
        if check(model):
            return model
        time.sleep(0.2)
    raise AssertionError(f"not seen within {timeout} s: {model}")


@pytest.mark.slow
def test_alias_moved_mid_stream_swaps_without_dropping_a_request(
    promoted_pair: PromotedPair, serve, runner
) -> None:
    pair = promoted_pair
    first, second = pair.checksum(pair.first), pair.checksum(pair.second)
    assert first != second
    server = serve("proj/train@production", "--watch", "0.2", env=pair.env())
    stop, answers = threading.Event(), []
    clients = [
        threading.Thread(target=_stream, args=(server.url, pair.images[i], stop, answers))
        for i in range(3)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(1.0)
        moved = runner.invoke(
            app,
            ["alias", "set", "proj/train", "production", pair.second.name, "--accept", ACCEPT],
            env={"ABYSSEXP_STORE": str(pair.store)},
        )
        assert moved.exit_code == 0, moved.output
        model = _wait_for(server.url, lambda m: m["checksum"] == second)
        time.sleep(1.0)
    finally:
        stop.set()
        for client in clients:
            client.join(60)
    assert answers and all(status == 200 for status, _ in answers), answers[:3]
    by_model: dict[str, set[str]] = {}
    for _, answer in answers:
        row = answer["predictions"][0]
        scores = json.dumps([round(s, 5) for s in row["scores"].values()])
        by_model.setdefault(answer["checksum"], set()).add(row["file_name"] + scores)
    assert set(by_model) == {first, second}, set(by_model)
    # Each answer is one model's: per model, one set of scores per image (never a mixture).
    assert all(len(rows) <= 3 for rows in by_model.values()), by_model
    assert by_model[first] != by_model[second]
    assert model["name"] == pair.second.name and model["alias"] == "proj/train@production"
    assert model["watching"]["swaps"][-1]["to"]["checksum"] == second
    assert "now serving" in server.output()

    # The first model damaged, the alias moved back to it: refused, the second keeps serving.
    readme = pair.first / "readme.txt"
    original = readme.read_bytes()
    os.chmod(pair.first, 0o755)
    os.chmod(readme, 0o644)
    try:
        readme.write_bytes(original + b"changed\n")
        back = runner.invoke(
            app,
            ["alias", "set", "proj/train", "production", pair.first.name, "--accept", ACCEPT],
            env={"ABYSSEXP_STORE": str(pair.store)},
        )
        assert back.exit_code == 0, back.output
        refused = _wait_for(server.url, lambda m: m["watching"]["refused"] is not None)
        assert refused["checksum"] == second
        assert "readme.txt" in refused["watching"]["refused"]["reason"]
        assert post_image(server.url, pair.images[0]).json()["checksum"] == second
        assert "was not loaded" in server.output()
    finally:  # the other tests of the module serve the first model as it was promoted
        readme.write_bytes(original)
        os.chmod(readme, 0o444)
        os.chmod(pair.first, 0o555)
    assert server.stop() == 0


def _raw_request(url: str, head: str, body: bytes = b"") -> socket.socket:
    """A request whose body is still being sent: the server has admitted it and waits."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=60)
    connection.sendall(head.encode() + body)
    return connection


def _read_answer(connection: socket.socket) -> tuple[str, bytes]:
    """(status line and headers, body) of the answer on a raw connection, then closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (chunk := connection.recv(65536)):
        body += chunk
    connection.close()
    return head.decode(errors="replace"), body


@pytest.mark.slow
def test_hostile_requests_get_a_clear_4xx_and_the_queue_is_bounded(
    promoted_pair: PromotedPair, serve, tmp_path: Path
) -> None:
    pair = promoted_pair
    server = serve(
        str(pair.first),
        *("--max-body-mb", "0.05", "--max-batch", "2", "--queue", "2", "--timeout", "3"),
        env=pair.env(),
    )
    url = f"{server.url}/v1/predict"

    def refused(response: httpx.Response, status: int, words: str) -> None:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["status"] == status and words in body["error"], body

    refused(httpx.post(url, content=b"x" * 60_000), 413, "over the limit of 52428 bytes")
    refused(httpx.post(url, content=b"hello, not an image"), 415, "send a JPEG, PNG")
    refused(httpx.post(url, content=b"/etc/passwd"), 415, "cannot read the image")
    refused(httpx.post(url, content=b""), 400, "empty")
    bomb = write_bomb_jpeg(tmp_path / "bomb.jpg")
    refused(httpx.post(url, content=bomb.read_bytes()), 413, "over the limit of 100000000 pixels")
    files = [("image", (f"{i}.jpg", pair.images[i].read_bytes(), "image/jpeg")) for i in range(3)]
    refused(httpx.post(url, files=files), 413, "more than 2 images")
    refused(httpx.post(url, params={"top_k": "0"}, content=b"x"), 400, "top_k")
    refused(httpx.get(url), 405, "no such endpoint")
    refused(httpx.get(f"{server.url}/../../etc/passwd"), 404, "no such endpoint")

    # Two requests admitted whose bodies never finish: a third is told to come back later,
    # and each of the two gets its 504 when --timeout passes.
    head = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    stalled = [_raw_request(server.url, head, b"\xff\xd8") for _ in range(2)]
    time.sleep(0.5)
    busy = httpx.post(url, content=pair.images[0].read_bytes())
    refused(busy, 503, "retry after 1 s")
    assert busy.headers["Retry-After"] == "1"
    for connection in stalled:
        head, body = _read_answer(connection)
        assert head.startswith("HTTP/1.1 504") and b"--timeout" in body, (head, body)
    assert post_image(server.url, pair.images[0]).status_code == 200

    metrics = httpx.get(f"{server.url}/metrics").text
    for kind in ("body", "not_an_image", "too_many_pixels", "queue_full", "timeout"):
        assert metric(metrics, f'abyssexp_errors_total{{kind="{kind}"}}') >= 1, kind
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "alive"}
    info = httpx.get(f"{server.url}/v1/model").json()
    assert info["input_size"] == [32, 32] and info["verified"] == "against its manifest"
    assert info["caveats"] and info["tests"]["shapes-test"]["images"] == 24


@pytest.mark.slow
def test_sigterm_answers_what_is_in_flight_and_exits_0(promoted_pair: PromotedPair, serve) -> None:
    pair = promoted_pair
    server = serve(str(pair.first), env=pair.env())
    image = pair.images[0].read_bytes()
    head = (
        "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(image)}\r\nConnection: close\r\n\r\n"
    )
    in_flight = _raw_request(server.url, head, image[:100])
    time.sleep(0.5)
    server.process.send_signal(15)
    time.sleep(1.0)
    assert server.process.poll() is None  # still waiting for the request in flight
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{server.url}/healthz", timeout=5)  # no longer accepting
    in_flight.sendall(image[100:])
    head, body = _read_answer(in_flight)
    assert head.startswith("HTTP/1.1 200"), (head, body)
    assert json.loads(body)["checksum"] == pair.checksum(pair.first)
    assert server.process.wait(60) == 0, server.output()
    assert "every queued request was answered" in server.output()


@pytest.mark.slow
@pytest.mark.s3
def test_serves_an_alias_of_an_s3_store(promoted_pair: PromotedPair, s3_store, serve, runner):
    pair = promoted_pair
    root = pair.scratch / "proj" / "train" / pair.first.name
    promoted = runner.invoke(
        app, ["promote", str(root), "--alias", "production", "--accept", ACCEPT]
    )
    assert promoted.exit_code == 0, promoted.output
    server = serve("proj/train@production", env={"ABYSSEXP_SCRATCH": str(pair.scratch)})
    answer = post_image(server.url, pair.images[0]).json()
    assert answer["checksum"] == pair.checksum(pair.first)
    assert answer["alias"] == "proj/train@production"
    info = httpx.get(f"{server.url}/v1/model").json()
    assert info["location"].startswith(str(s3_store)) and info["verified"]

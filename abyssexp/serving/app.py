"""The HTTP side: Starlette routes, the limits on what a request may cost, the metrics.

``POST /v1/predict`` (an image as the body, or several as multipart) answers like
``predict --json`` plus the model's name, alias and checksum; ``GET /v1/model`` shows what is
loaded; ``/healthz`` (alive), ``/readyz`` (answering), ``/metrics`` (Prometheus). Every error
is one JSON object ``{"error": "...", "status": N}``. Limits: the body size, the pixel limit
``predict`` has, images per request (``max_batch``), requests admitted at once (``queue``:
503 with ``Retry-After`` beyond it) and a timeout per request (504).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abyssexp.serving.batching import MicroBatcher
from abyssexp.serving.bodies import BodyError, Part, read_limited, split_parts
from abyssexp.serving.loaded import ServedModel
from abyssexp.serving.metrics import ServerMetrics
from abyssexp.serving.options import ServeOptions
from abyssexp.serving.watch import AliasWatcher

log = logging.getLogger(__name__)
#: Seconds a client is asked to wait before retrying when the queue is full.
RETRY_AFTER_S = 1


@dataclass
class ServingState:
    """What the routes share: the options, the batcher (and its model), the watcher."""

    options: ServeOptions
    alias: str | None
    batcher: MicroBatcher
    metrics: ServerMetrics
    watcher: AliasWatcher | None = None
    admitted: int = 0
    stopping: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def error(message: str, status: int, **headers: str) -> JSONResponse:
    """Every error answer: one line saying what is wrong and what to do."""
    return JSONResponse({"error": message, "status": status}, status, headers=headers or None)


def _prepare_all(parts: list[Part], input_size: tuple[int, int]) -> np.ndarray:
    from abyssexp.serving.inputs import prepare_bytes

    return np.stack([prepare_bytes(p.data, input_size, p.name) for p in parts])


class Answer(TypedDict):
    """``POST /v1/predict``'s body: ``predict --json``'s fields (but its speed) and the model's
    alias and checksum."""

    warning: str | None
    model: str
    class_names: list[str]
    activation: str
    thresholds: list[float] | None
    images: int
    #: One row per image, in the order sent; ``file_name`` as the client sent it.
    predictions: list[dict[str, Any]]
    alias: str | None
    checksum: str


def answer(
    parts: list[Part], scores: np.ndarray, model: ServedModel, alias: str | None, top_k: int
) -> Answer:
    """``predict --json``'s shape for these images, with the model's name, alias, checksum."""
    from abyssexp.evaluation.predict import PredictInput, Predictions

    meaning = model.meaning
    result = Predictions(
        model=Path(model.name),
        class_names=meaning.class_names,
        activation=meaning.activation,
        thresholds=meaning.thresholds,
        inputs=[PredictInput(Path(p.name)) for p in parts],
        scores=scores,
        seconds=0.0,
        top_k=min(top_k, len(meaning.class_names)),
    ).to_json()
    rows = result["predictions"]
    for row, part in zip(rows, parts, strict=True):
        row["file_name"] = part.name  # as the client sent it (Path would normalise it)
    return {
        "warning": result["warning"],
        "model": model.name,
        "class_names": result["class_names"],
        "activation": result["activation"],
        "thresholds": result["thresholds"],
        "images": result["images"],
        "predictions": rows,
        "alias": alias,
        "checksum": model.checksum,
    }


async def predict(request: Request) -> Response:
    state: ServingState = request.app.state.serving
    if state.stopping:
        return error("the server is stopping; retry on another instance", 503)
    if state.admitted >= state.options.queue:
        state.metrics.errors.labels("queue_full").inc()
        return error(
            f"{state.admitted} requests are waiting (--queue {state.options.queue}); retry "
            f"after {RETRY_AFTER_S} s",
            503,
            **{"Retry-After": str(RETRY_AFTER_S)},
        )
    state.admitted += 1
    try:
        async with asyncio.timeout(state.options.timeout_s or None):
            return await _predict(request, state)
    except TimeoutError:
        state.metrics.errors.labels("timeout").inc()
        return error(f"no answer within {state.options.timeout_s:g} s (--timeout)", 504)
    finally:
        state.admitted -= 1


async def _predict(request: Request, state: ServingState) -> Response:
    from abyssexp.datasets.images import ImageTooLargeError
    from abyssexp.serving.inputs import NotAnImageError

    top_k = request.query_params.get("top_k", "3")
    if not top_k.isdigit() or not 1 <= int(top_k) <= 1000:
        return error(f"top_k={top_k[:20]!r}: expected a whole number from 1 to 1000", 400)
    batcher = state.batcher
    batcher.arriving += 1
    try:
        body = await read_limited(
            request.stream(), request.headers.get("content-length"), state.options.max_body_bytes
        )
        parts = split_parts(body, request.headers.get("content-type", ""), batcher.max_batch)
        decoded_for = batcher.model
        images = await asyncio.to_thread(_prepare_all, parts, decoded_for.input_size)
        future = batcher.submit(images, decoded_for)
    except BodyError as exc:
        state.metrics.errors.labels("body").inc()
        return error(str(exc), exc.status)
    except ClientDisconnect:  # nobody will read the answer; counted, not logged as a failure
        state.metrics.errors.labels("body").inc()
        return error("the client went away before its body arrived", 400)
    except ImageTooLargeError as exc:
        state.metrics.errors.labels("too_many_pixels").inc()
        return error(str(exc), 413)
    except NotAnImageError as exc:
        state.metrics.errors.labels("not_an_image").inc()
        return error(f"{exc}; send a JPEG, PNG or another image Pillow reads", 415)
    finally:
        batcher.arriving -= 1
        batcher.wake()
    scores, model = await future
    state.metrics.images.inc(len(parts))
    return JSONResponse(answer(parts, scores, model, state.alias, int(top_k)))


async def model_info(request: Request) -> Response:
    state: ServingState = request.app.state.serving
    watcher = state.watcher
    return JSONResponse(
        {
            **state.batcher.model.describe(),
            "alias": state.alias,
            "watching": {
                "every_s": state.options.watch_s,
                "swaps": watcher.swaps,
                "refused": watcher.refused,
            }
            if watcher
            else None,
            "batching": {
                "max_batch": state.options.max_batch,
                "window_ms": state.options.window_ms,
                "queue": state.options.queue,
                "timeout_s": state.options.timeout_s,
                "max_body_bytes": state.options.max_body_bytes,
            },
        }
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    state: ServingState = request.app.state.serving
    if state.stopping:
        return error("stopping", 503)
    model = state.batcher.model
    return JSONResponse({"status": "ready", "model": model.name, "checksum": model.checksum})


async def metrics(request: Request) -> Response:
    body, content_type = request.app.state.serving.metrics.render()
    return Response(body, headers={"Content-Type": content_type})


def _measured(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint, counted and timed in the metrics; an unexpected failure is a 500 JSON
    answer (logged with its traceback), never a bare text page."""

    async def measured(request: Request) -> Response:
        state: ServingState = request.app.state.serving
        started = time.perf_counter()
        try:
            response = await endpoint(request)
        except Exception:  # noqa: BLE001 - one answer for every request, whatever failed
            log.exception("%s %s failed", request.method, request.url.path)
            state.metrics.errors.labels("internal").inc()
            response = error("the server failed on this request; its log says why", 500)
        state.metrics.observe(request.url.path, response.status_code, time.perf_counter() - started)
        return response

    return measured


async def _http_error(request: Request, exc: Exception) -> Response:
    """No such route or method: the JSON error shape too, with the routes there are."""
    status = int(getattr(exc, "status_code", 404))
    return error(
        f"{request.method} {request.url.path[:100]}: no such endpoint (POST /v1/predict, GET "
        "/v1/model, /healthz, /readyz, /metrics)",
        status,
    )


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    state: ServingState = app.state.serving
    state.batcher.start()
    if state.watcher is not None:
        state.tasks.append(asyncio.get_running_loop().create_task(state.watcher.run()))
    log.info(
        "serving %s (sha256 %s, %s) on http://%s:%d",
        state.batcher.model.name,
        state.batcher.model.checksum[:12],
        state.batcher.model.format,
        state.options.host,
        state.options.port,
    )
    yield
    # uvicorn has stopped accepting and waited for the requests in flight: finish the queue.
    state.stopping = True
    for task in state.tasks:
        task.cancel()
    await asyncio.gather(*state.tasks, return_exceptions=True)
    await state.batcher.stop()
    log.info("stopped: every queued request was answered")


def create_app(model: ServedModel, options: ServeOptions, alias: str | None) -> Starlette:
    """The application serving ``model``; ``alias`` (``PROJECT/TYPE@ALIAS``) is watched."""
    metrics_ = ServerMetrics(options.max_batch)
    batcher = MicroBatcher(
        model, options.max_batch, options.window_ms / 1000, metrics_.batch_images.observe
    )
    metrics_.watch_queue(batcher.depth)
    state = ServingState(options, alias, batcher, metrics_)
    if alias is not None and options.watch_s > 0:
        state.watcher = AliasWatcher(options, batcher, on_swap=metrics_.swaps.inc)
    routes = [
        Route("/v1/predict", _measured(predict), methods=["POST"]),
        Route("/v1/model", _measured(model_info), methods=["GET"]),
        Route("/healthz", _measured(healthz), methods=["GET"]),
        Route("/readyz", _measured(readyz), methods=["GET"]),
        Route("/metrics", _measured(metrics), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=_lifespan,
        exception_handlers={404: _http_error, 405: _http_error},
    )
    app.state.serving = state
    return app

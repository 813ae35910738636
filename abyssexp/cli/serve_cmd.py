"""``serve``: a model behind HTTP (``abyssexp.serving``). Imports TensorFlow and the server
stack only when it runs, never for ``--help``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from abyssexp.cli.app import app
from abyssexp.cli.deploy_cmd import SourceArgument
from abyssexp.cli.options import ScratchOption, StoreOption, finite, scratch_root, store_root
from abyssexp.serving.options import (
    DEFAULT_HOST,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PORT,
    DEFAULT_QUEUE,
    DEFAULT_TIMEOUT_S,
    DEFAULT_WATCH_S,
    DEFAULT_WINDOW_MS,
    ServeOptions,
)


@app.command("serve")
def serve_command(
    source: SourceArgument,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free one).")] = DEFAULT_PORT,
    format: Annotated[
        str, typer.Option("--format", help="keras, or a promoted model's savedmodel or onnx.")
    ] = "keras",
    max_batch: Annotated[
        int, typer.Option("--max-batch", help="Most images per model call and per request.")
    ] = DEFAULT_MAX_BATCH,
    window_ms: Annotated[
        float,
        typer.Option("--window-ms", callback=finite, help="Longest wait for a batch to fill."),
    ] = DEFAULT_WINDOW_MS,
    queue: Annotated[
        int, typer.Option("--queue", help="Requests admitted at once; 503 beyond.")
    ] = DEFAULT_QUEUE,
    timeout: Annotated[
        float, typer.Option("--timeout", callback=finite, help="Seconds per request (504).")
    ] = DEFAULT_TIMEOUT_S,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", callback=finite, help="Largest request body.")
    ] = DEFAULT_MAX_BODY_BYTES / 2**20,
    watch: Annotated[
        float,
        typer.Option("--watch", callback=finite, help="Seconds between alias checks (0: never)."),
    ] = DEFAULT_WATCH_S,
    scratch: ScratchOption = None,
    store: StoreOption = None,
) -> None:
    """Serve a model over HTTP (POST /v1/predict, GET /v1/model, /healthz, /readyz, /metrics):
    concurrent requests are batched, a PROJECT/TYPE@ALIAS is watched and its new model swapped
    in once verified, SIGTERM answers the queued requests and exits 0. Listens on 127.0.0.1
    unless --host says otherwise; docs/serving.md puts it behind a proxy."""
    from abyssexp.serving.server import serve

    options = ServeOptions(
        source=source,
        scratch=scratch_root(scratch),
        store=store_root(store),
        host=host,
        port=port,
        format=format,
        max_batch=max_batch,
        window_ms=window_ms,
        queue=queue,
        timeout_s=timeout,
        max_body_bytes=int(max_body_mb * 2**20),
        watch_s=watch,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(options)

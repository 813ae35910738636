"""``serve``: plan (the model resolved, verified, loaded), then act (uvicorn until SIGTERM).

SIGTERM (or Ctrl-C) stops accepting connections, waits for the requests in flight, finishes
the queue and returns: the command exits 0. uvicorn re-raises the signal it caught once it
has shut down (so a default handler would end the process with 143); ``serve`` installs a
handler for SIGTERM first, so the stop it asked for is a normal return.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from abyssexp.errors import OptionalDependencyError
from abyssexp.serving.loaded import ServedModel, is_alias, load_source
from abyssexp.serving.options import ServeOptions

log = logging.getLogger(__name__)


def load_model(options: ServeOptions) -> ServedModel:
    """The plan step: the model ``options.source`` names, verified and loaded, before any
    socket is opened (a bad source fails here, with one line)."""
    return load_source(options)


def serve(options: ServeOptions, model: ServedModel | None = None) -> None:
    """Serve ``model`` (or the one ``options`` names) until SIGTERM or Ctrl-C.

    Raises:
        AbyssExpError: the source cannot be resolved, verified or loaded (before serving).
        OSError: the port cannot be bound.
    """
    _check_installed()
    import uvicorn

    from abyssexp.serving.app import create_app

    model = model or load_model(options)
    alias = options.source if is_alias(options.source) else None
    app = create_app(model, options, alias)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        access_log=False,  # /metrics counts every request; a line per request is noise
        log_config=None,  # the command line's logging, not uvicorn's own
        lifespan="on",
        timeout_graceful_shutdown=max(options.timeout_s, 1.0) + 5.0,  # type: ignore[arg-type]  # typed int; an asyncio timeout
        limit_max_requests=None,
    )
    server = uvicorn.Server(config)
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        raise OSError(f"{options.host}:{options.port}: cannot serve there (see the log above)")


def _check_installed() -> None:
    """The server stack is an extra: say how to install it, before any model loads.

    Raises:
        OptionalDependencyError: starlette, uvicorn, python-multipart or prometheus-client
            is missing.
    """
    import importlib.util

    for module in ("starlette", "uvicorn", "python_multipart", "prometheus_client"):
        if importlib.util.find_spec(module) is None:
            raise OptionalDependencyError(
                f"abyssexp serve needs {module}: pip install 'abyssexp[serve]'"
            )


def _stopped(signum: int, frame: Any) -> None:
    """uvicorn re-raises the SIGTERM it handled once it has stopped: nothing left to do."""
    log.info("stopped by signal %d", signum)

"""What ``abyssexp serve`` serves and how: every option with its default, checked before
anything loads (no TensorFlow, no server stack here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from abyssexp.errors import InvalidInputError

if TYPE_CHECKING:
    from abyssexp.config import StoreURL

#: Formats a model is served in: the Keras file itself, or an export of the promoted model.
SERVE_FORMATS = ("keras", "savedmodel", "onnx")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: Images per model call: the batch a CPU runs near its best throughput for small models.
DEFAULT_MAX_BATCH = 32
#: How long the first request of a batch waits for others: short enough that one request alone
#: is answered within ~5 ms of an in-process call, long enough to fill batches under load.
DEFAULT_WINDOW_MS = 5.0
#: Requests admitted at once (decoding, queued or in the model); more are answered 503.
DEFAULT_QUEUE = 256
DEFAULT_TIMEOUT_S = 30.0
#: A request body's largest size: a 20 MB photo is larger than a phone's.
DEFAULT_MAX_BODY_BYTES = 20 << 20
DEFAULT_WATCH_S = 10.0


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``serve`` needs, resolved (roots, not options) and checked."""

    source: str
    scratch: Path
    store: Path | StoreURL
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    format: str = "keras"
    max_batch: int = DEFAULT_MAX_BATCH
    window_ms: float = DEFAULT_WINDOW_MS
    queue: int = DEFAULT_QUEUE
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    watch_s: float = DEFAULT_WATCH_S

    def __post_init__(self) -> None:
        problems = [p for p in self._problems() if p]
        if problems:
            raise InvalidInputError(problems[0], problems)

    def _problems(self) -> list[str | None]:
        """One line per option out of its range, naming the option, the value and the range."""
        return [
            None
            if self.format in SERVE_FORMATS
            else f"--format: {self.format!r} is not a format to serve "
            f"(valid: {', '.join(SERVE_FORMATS)})",
            _outside("--port", self.port, 0, 65535, "0 picks a free one"),
            _outside("--max-batch", self.max_batch, 1, 1024),
            _outside("--queue", self.queue, self.max_batch, 100_000, "at least --max-batch"),
            _outside("--window-ms", self.window_ms, 0, 1000),
            _outside("--timeout", self.timeout_s, 0.1, 3600),
            _outside("--max-body-mb", self.max_body_bytes / 2**20, 0.001, 1024),
            _outside("--watch", self.watch_s, 0, 86400, "0: never"),
        ]


def _outside(
    option: str, value: float, low: float, high: float, note: str | None = None
) -> str | None:
    """A problem line when ``value`` is not a finite number within [low, high]."""
    if low <= value <= high:  # False for nan
        return None
    hint = f"; {note}" if note else ""
    return f"{option}: {value:g} is outside {low:g} to {high:g}{hint}"

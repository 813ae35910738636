"""SIGINT and SIGTERM during ``train``: the first asks the run to stop after the batch in hand
(``callbacks.StopOnSignal`` raises there, and the run is marked interrupted with a recovery
checkpoint); a second stops at once."""

from __future__ import annotations

import signal
from typing import Any


def install_signal_handlers(flag: dict[str, Any]) -> dict[int, Any]:
    """SIGINT/SIGTERM set ``flag["stop"]`` (fit ends after the batch); a second stops at once."""
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        if flag.get("stop"):
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        flag["stop"] = True
        flag["signal"] = signal.Signals(signum).name

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread (tests in threads)
            pass
    return previous


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers ``install_signal_handlers`` replaced (the run is over)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)

"""The experiment record: a small JSON file that ``list`` reads instead of anything heavy.

Every update takes the record's lock and rewrites the file atomically, so a training process and a
``promote`` in another shell never lose each other's fields.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json
from abyssexp.locks import file_lock

RECORD_VERSION = 1
STALE_HEARTBEAT_S = 600.0
STATUSES = ("new", "running", "completed", "failed", "interrupted", "crashed")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_record(path: Path) -> dict[str, Any]:
    """Read a record; a missing or torn file gives ``{}`` rather than breaking a listing."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError):
        return {}
    return data if isinstance(data, dict) else {}


def write_record(path: Path, record: dict[str, Any]) -> None:
    atomic_write_json(path, record)


def update_record(path: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``change`` to the record under its lock; returns the new record."""
    with file_lock(path.with_name(".record.lock"), what="experiment record"):
        record = read_record(path)
        change(record)
        write_record(path, record)
        return record


def effective_status(record: dict[str, Any], now: float | None = None) -> str:
    """The status to show: a ``running`` record whose process is gone (on this host) or whose
    heartbeat is stale is ``crashed``."""
    status = record.get("status", "new")
    if status != "running":
        return status
    now = time.time() if now is None else now
    heartbeat = record.get("heartbeat_unix")
    if record.get("host") == socket.gethostname() and record.get("pid"):
        if not _pid_alive(int(record["pid"])):
            return "crashed"
    if heartbeat is not None and now - float(heartbeat) > STALE_HEARTBEAT_S:
        return "crashed"
    return status


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

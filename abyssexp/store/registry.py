"""The store registry: one JSON file at the store root, changed only under a lock.

Concurrent promotions (from several shells or machines sharing the store) each take the lock, read,
change and atomically rewrite the file, so no record is lost. Aliases (``production``,
``candidate``...) are per project/type and move atomically with the same write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json
from abyssexp.locks import file_lock

REGISTRY_FILE = "registry.json"
LOCK_FILE = ".registry.lock"


def read_registry(store: Path) -> dict[str, Any]:
    try:
        data = json.loads((store / REGISTRY_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        data = {}
    data.setdefault("version", 1)
    data.setdefault("models", [])
    data.setdefault("aliases", {})
    return data


def update_registry(store: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    store.mkdir(parents=True, exist_ok=True)
    with file_lock(store / LOCK_FILE, timeout=120, what="store registry"):
        data = read_registry(store)
        change(data)
        atomic_write_json(store / REGISTRY_FILE, data)
        return data


def list_promoted(
    store: Path, project: str | None = None, experiment_type: str | None = None
) -> list[dict[str, Any]]:
    data = read_registry(store)
    rows = []
    for model in data["models"]:
        if project and model["project"] != project:
            continue
        if experiment_type and model["type"] != experiment_type:
            continue
        key = f"{model['project']}/{model['type']}"
        aliases = sorted(
            a for a, name in data["aliases"].get(key, {}).items() if name == model["name"]
        )
        rows.append({**model, "aliases": aliases})
    return rows

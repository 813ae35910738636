"""One GPU, several (MirroredStrategy) or several machines (MultiWorkerMirroredStrategy via
``TF_CONFIG``). ``batch_size`` is always the global batch, split across replicas."""

from __future__ import annotations

import json
import os
from typing import Any

from abyssexp.errors import InvalidInputError


def tf_config() -> dict[str, Any] | None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"TF_CONFIG: not valid JSON ({exc.msg})") from None
    if "cluster" not in config or "task" not in config:
        raise InvalidInputError("TF_CONFIG needs 'cluster' and 'task' (see docs/scaling.md)")
    return config


def is_chief() -> bool:
    """Only the chief writes files in a multi-worker run (worker 0 when there is no chief)."""
    config = tf_config()
    if config is None:
        return True
    task = config["task"]
    if task.get("type") == "chief":
        return True
    has_chief = "chief" in config["cluster"]
    return not has_chief and task.get("type") == "worker" and int(task.get("index", 0)) == 0


def make_strategy(gpus: int) -> Any:
    import tensorflow as tf

    if tf_config() is not None:
        return tf.distribute.MultiWorkerMirroredStrategy()
    available = tf.config.list_logical_devices("GPU")
    if gpus > 1:
        if len(available) < gpus:
            raise InvalidInputError(
                f"training.gpus={gpus} but this machine has {len(available)} GPU(s); lower it"
            )
        return tf.distribute.MirroredStrategy([d.name for d in available[:gpus]])
    if gpus == 0 and available:
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    return tf.distribute.get_strategy()

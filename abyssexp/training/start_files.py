"""What a run writes when it starts: params.json with the resolved category map, the class names,
the map, provenance (with the dataset hashes) and, when the command line changed params, the
record's trace of it. Written once the run is sure to start, just before it is marked running."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from abyssexp.atomic import atomic_write_json
from abyssexp.experiment.provenance import Collected, write_train_provenance
from abyssexp.experiment.record_file import record_params_change, utc_now
from abyssexp.hashing import sha256_file
from abyssexp.schemas.record import ParamsChange
from abyssexp.schemas.resolve import params_to_json
from abyssexp.training.plan import TrainingPlan


def run_command_line(plan: TrainingPlan) -> list[str]:
    """The command line the run's provenance records."""
    return plan.command_line or list(sys.argv)


def write_run_files(plan: TrainingPlan, provenance: Callable[[], Collected] | None = None) -> None:
    """params.json with the resolved category map, class names, the map, and provenance
    (``provenance``: waits for what ``collect_in_background`` started, if it was)."""
    paths, params, labels = plan.paths, plan.params, plan.labels
    category_map = labels.category_map()
    if category_map is not None and params.dataset.category_map is None:
        dataset = params.dataset.model_copy(update={"category_map": category_map})
        params = params.model_copy(update={"dataset": dataset})
    atomic_write_json(paths.params, params_to_json(params))
    atomic_write_json(paths.class_names, labels.class_names)
    if category_map is not None:
        atomic_write_json(paths.category_map, category_map)
    _write_provenance(plan, category_map, provenance() if provenance else None)
    if plan.params_changes:
        change = ParamsChange(
            time=utc_now(), command_line=plan.command_line, changes=plan.params_changes
        )
        record_params_change(paths.record, change)


def _write_provenance(
    plan: TrainingPlan, category_map: dict[str, int] | None, collected: Collected | None
) -> None:
    import tensorflow as tf

    paths, params = plan.paths, plan.params
    datasets = {}
    for split in ("train", "val"):
        value = getattr(params.dataset, split)
        if value:
            path = Path(value) if Path(value).is_absolute() else paths.root / value
            datasets[split] = {"path": str(path), "sha256": sha256_file(path)}
    map_digest = None
    if category_map is not None:
        map_digest = hashlib.sha256(json.dumps(category_map, sort_keys=True).encode()).hexdigest()
    write_train_provenance(
        paths,
        run_command_line(plan),
        collected,
        tensorflow=tf.__version__,
        gpus=[d.name for d in tf.config.list_physical_devices("GPU")],
        datasets=datasets,
        category_map_sha256=map_digest,
        resumed=plan.resume is not None,
    )

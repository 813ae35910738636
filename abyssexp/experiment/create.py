"""``abyssexp new``: claim a number, lay out the folder, write params, readme, record, provenance.

Everything that can be checked is checked before a number is claimed (names, ``--set`` values, the
dataset files). Anything that still fails afterwards removes the half-made folder and its claim: a
failed ``new`` leaves nothing behind.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.atomic import atomic_copy, atomic_write_json, atomic_write_text, fsync_dir
from abyssexp.debris import owner_tag, remove_stale
from abyssexp.errors import DatasetError, InvalidInputError
from abyssexp.experiment import layout
from abyssexp.experiment.annotate import check_note_text
from abyssexp.experiment.naming import format_name, format_number, number_of, validate_part
from abyssexp.experiment.numbering import claim_next_number, release_claim
from abyssexp.experiment.provenance import collect_provenance, current_user
from abyssexp.experiment.record_file import create_record, utc_now
from abyssexp.experiment.refs import resolve_ref, split_location
from abyssexp.experiment.summary_cache import refresh_summary
from abyssexp.owned import make_dirs, rmtree_inside
from abyssexp.processes import this_host
from abyssexp.schemas.params import Params
from abyssexp.schemas.provenance import write_provenance
from abyssexp.schemas.resolve import load_params_file, params_to_json, resolve_params
from abyssexp.templates import render_template

if TYPE_CHECKING:
    from abyssexp.experiment.data_checks import DataFindings


@dataclass(frozen=True)
class NewExperimentRequest:
    scratch: Path
    project: str
    experiment_type: str
    dataset_info: str
    infos: Sequence[str] = ()
    train: Path | None = None
    val: Path | None = None
    #: Images folders as typed (relative to the current directory): both splits, or per split.
    image_dir: Path | None = None
    train_images: Path | None = None
    val_images: Path | None = None
    make_datasets: Path | None = None
    overrides: Sequence[tuple[str, Any]] = ()
    parent_ref: str | None = None
    note: str = ""
    command_line: Sequence[str] | None = None
    #: Create it although the class-table verdict is "not usable" (recorded in the record).
    force_data: bool = False
    #: Create it although training and validation images overlap (recorded in the record).
    allow_leaks: bool = False
    #: Look for near-duplicates across the splits (a warning); ``--no-near-check`` skips it.
    near_check: bool = True


@dataclass(frozen=True)
class NewExperiment:
    path: Path
    project: str
    experiment_type: str
    number: int
    name: str
    parent: str | None
    params: Params
    #: What was found and decided on the way (images folders, a dropped placeholder category).
    notes: list[str] = field(default_factory=list)
    #: Warnings about the data (small data), also kept in the record.
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "project": self.project,
            "type": self.experiment_type,
            "number": self.number,
            "name": self.name,
            "parent": self.parent,
            "notes": self.notes,
            "warnings": self.warnings,
        }


def _copy_plan(request: NewExperimentRequest, parent_root: Path | None) -> dict[str, Path]:
    """Which files go into ``datasets/``: given files win over the parent's copies."""
    plan: dict[str, Path] = {}
    if parent_root is not None:
        for name in (layout.TRAIN_COCO, layout.VAL_COCO, layout.MAKE_DATASETS):
            candidate = parent_root / layout.DATASETS_DIR / name
            if candidate.is_file():
                plan[name] = candidate
    for name, given in (
        (layout.TRAIN_COCO, request.train),
        (layout.VAL_COCO, request.val),
        (layout.MAKE_DATASETS, request.make_datasets),
    ):
        if given is not None:
            if not given.is_file():
                raise InvalidInputError(f"{given}: file not found (given for {name})")
            plan[name] = given
    return plan


def _dataset_params(
    request: NewExperimentRequest, base: dict[str, Any], parent_root: Path | None
) -> dict[str, Any]:
    """Point params at the copies in ``datasets/``; a parent's single images folder becomes one
    per split (the images folders themselves are found by ``_locate_images``)."""
    dataset = dict(base.get("dataset", {}))
    image_dir = dataset.get("image_dir")
    if isinstance(image_dir, str) and parent_root is not None:
        dataset["image_dir"] = {"train": image_dir, "val": image_dir}
    for split, given, name in (
        ("train", request.train, layout.TRAIN_COCO),
        ("val", request.val, layout.VAL_COCO),
    ):
        if given is not None:
            dataset[split] = f"{layout.DATASETS_DIR}/{name}"
    return {**base, "dataset": dataset}


def _typed_image_dir(request: NewExperimentRequest, split: str) -> str | None:
    """The images folder the user typed for ``split`` (option or ``--set dataset.image_dir``)."""
    specific = request.train_images if split == "train" else request.val_images
    if specific is not None:
        return str(specific)
    if request.image_dir is not None:
        return str(request.image_dir)
    for key, value in reversed(list(request.overrides)):
        if key == "dataset.image_dir" and isinstance(value, str):
            return value
        if key == "dataset.image_dir" and isinstance(value, dict) and split in value:
            return str(value[split])
        if key == f"dataset.image_dir.{split}":
            return str(value)
    return None


def _locate_images(
    request: NewExperimentRequest, params: Params, plan: dict[str, Path], notes: list[str]
) -> Params:
    """Find (or take as typed) each split's images folder, store it absolute with what was typed,
    and check every image file exists; nothing is decoded.

    Raises:
        InvalidInputError: an image file is missing (the first few are named).
    """
    from abyssexp.datasets.locate import require_images
    from abyssexp.datasets.quick import load_coco_json

    dataset = params.dataset
    folders = dict(dataset.image_dir) if isinstance(dataset.image_dir, dict) else {}
    given = dict(dataset.image_dir_given or {})
    # One split: --image-dir says it; two: each has its own option.
    option = "--image-dir" if layout.VAL_COCO not in plan else None
    for split, name in (("train", layout.TRAIN_COCO), ("val", layout.VAL_COCO)):
        typed = _typed_image_dir(request, split)
        fresh = getattr(request, split) is not None
        if name not in plan or (typed is None and not fresh):
            continue
        images = load_coco_json(plan[name])["images"]
        folder = require_images(
            plan[name], images, Path(typed) if typed else None, option or f"--{split}-images"
        )
        notes.append(f"{split} {folder.describe()}")
        folders[split] = str(folder.path)
        given[split] = typed if typed is not None else f"found: {folder.how}"
    if not folders:
        return params
    update = {"image_dir": folders, "image_dir_given": given or None}
    return params.model_copy(update={"dataset": dataset.model_copy(update=update)})


def _parent(request: NewExperimentRequest) -> tuple[Path | None, dict[str, Any], str | None]:
    """The parent's folder, params and ``project/type/name`` (all None/empty without --from)."""
    if not request.parent_ref:
        return None, {}, None
    parent = resolve_ref(request.parent_ref, request.scratch)
    parent_project, parent_type = split_location(parent)
    return (
        parent.root,
        load_params_file(parent.params),
        f"{parent_project}/{parent_type}/{parent.name}",
    )


def _type_dir(type_dir: Path) -> Path:
    try:
        make_dirs(type_dir)  # never through a symlinked project or type folder (owned.py)
    except OSError as exc:
        raise InvalidInputError(
            f"{type_dir}: cannot create the experiment type folder ({exc.strerror}); "
            "check the scratch root (`abyssexp config`)"
        ) from None
    return type_dir


def create_experiment(request: NewExperimentRequest) -> NewExperiment:
    """Create a numbered experiment folder; see the module docstring for the guarantees."""
    staged = stage_experiment(request)
    try:
        return publish_experiment(staged)
    except BaseException:
        discard_experiment(staged)
        raise


@dataclass(frozen=True)
class StagedExperiment:
    """A complete experiment under its hidden ``.creating.*`` name, its number claimed.

    ``publish_experiment`` renames it into place; ``discard_experiment`` removes it and frees the
    number. A sweep stages all its trials first, so a failure leaves none of them behind.
    """

    staging: Path
    claim: Path
    experiment: NewExperiment


def publish_experiment(staged: StagedExperiment, sync: bool = True) -> NewExperiment:
    """Rename into place; ``sync=False`` leaves the folder's fsync to the caller (a sweep
    publishes all its trials, then flushes their folder once)."""
    os.rename(staged.staging, staged.experiment.path)
    if sync:
        fsync_dir(staged.experiment.path.parent)
    return staged.experiment


STAGING_PREFIX = ".creating."


def remove_stale_staging(type_dir: Path) -> list[Path]:
    """Remove the half-made experiments of killed ``new`` and ``sweep new`` runs in ``type_dir``
    and free their claimed numbers; returns what was removed."""
    removed = remove_stale(type_dir, STAGING_PREFIX, type_dir)
    for folder in removed:
        number = number_of(folder.name.split(".", 3)[-1])
        if number is not None:
            release_claim(type_dir / layout.CLAIMS_DIR / format_number(number))
    return removed


def discard_experiment(staged: StagedExperiment) -> None:
    rmtree_inside(staged.staging, staged.staging.parent)
    release_claim(staged.claim)


def stage_experiment(
    request: NewExperimentRequest,
    provenance: tuple[dict[str, Any], str] | None = None,
    record_fields: dict[str, Any] | None = None,
) -> StagedExperiment:
    """Check everything, claim a number and build the experiment under a hidden name.

    Args:
        request: what to create.
        provenance: ``collect_provenance``'s result to reuse (a sweep collects it once).
        record_fields: more fields for the new record (a sweep trial's ``sweep``).
    """
    project = validate_part(request.project, "project")
    experiment_type = validate_part(request.experiment_type, "experiment type")
    parts = [validate_part(request.dataset_info, "dataset info")]
    parts += [validate_part(info, f"info {i + 1}") for i, info in enumerate(request.infos)]
    if request.note:
        check_note_text(request.note, "--note", "new")

    parent_root, base, parent_name = _parent(request)
    plan = _copy_plan(request, parent_root)
    base = _dataset_params(request, base, parent_root)
    params = resolve_params(base, request.overrides)
    notes: list[str] = []
    params = _prepare_dataset(params, plan, notes)
    params = _locate_images(request, params, plan, notes)
    findings = _check_data(request, params, plan, parent_root, notes)
    record_fields = {**findings.record_fields(), **(record_fields or {})}

    type_dir = _type_dir(request.scratch / project / experiment_type)
    remove_stale_staging(type_dir)
    number, claim = claim_next_number(type_dir)
    name = format_name(number, parts)
    # Built under a hidden name and renamed into place once complete: `list` never shows a
    # half-created experiment, and a failed `new` leaves nothing a user could see. The name
    # carries its owner (debris.py): a killed `new` or `sweep new` leaves debris the next removes.
    staging = type_dir / f"{STAGING_PREFIX}{owner_tag()}.{name}"
    experiment = NewExperiment(
        type_dir / name,
        project,
        experiment_type,
        number,
        name,
        parent_name,
        params,
        notes,
        findings.warnings,
    )
    try:
        staging.mkdir()
        _fill(staging, request, plan, params, experiment, provenance, record_fields)
    except BaseException:
        rmtree_inside(staging, type_dir)
        release_claim(claim)
        raise
    return StagedExperiment(staging, claim, experiment)


def _fill(
    staging: Path,
    request: NewExperimentRequest,
    plan: dict[str, Path],
    params: Params,
    experiment: NewExperiment,
    provenance: tuple[dict[str, Any], str] | None,
    record_fields: dict[str, Any],
) -> None:
    """Write datasets, params, provenance, readme and record into the staging folder."""
    paths = layout.ExperimentPaths(staging)
    for folder in (paths.datasets, paths.logs, paths.models, paths.testing):
        folder.mkdir()
    for target_name, source in plan.items():
        atomic_copy(source, paths.datasets / target_name)
    atomic_write_json(paths.params, params_to_json(params))
    command_line = list(request.command_line or sys.argv)
    facts, diff = provenance or collect_provenance(command_line)
    write_provenance(paths.provenance, {"new": {**facts, "command_line": command_line}})
    refresh_summary(paths)  # what `compare` reads from the provenance
    if diff:
        atomic_write_text(paths.git_diff, diff)
    created = utc_now()
    name = experiment.name
    atomic_write_text(
        paths.readme,
        render_template(
            "readme.txt",
            {
                "name": name,
                "underline": "=" * len(name),
                "project": experiment.project,
                "experiment_type": experiment.experiment_type,
                "number": experiment.number,
                "created": created,
                "user": current_user(),
                "host": this_host(),
                "parent": experiment.parent or "(none)",
                "command_line": shlex.join(command_line),
                "note": request.note or "(no purpose given: pass --note)",
                "train": params.dataset.train or "(none)",
                "val": params.dataset.val or "(none)",
            },
        ),
    )
    create_record(
        paths.record,
        project=experiment.project,
        type=experiment.experiment_type,
        name=name,
        number=experiment.number,
        created=created,
        user=current_user(),
        parent=experiment.parent,
        note=request.note,
        epochs_done=0,
        epochs_total=params.training.epochs,
        **record_fields,
    )


def _prepare_dataset(params: Params, plan: dict[str, Path], notes: list[str]) -> Params:
    """Run the cheap dataset checks and build a ``map_by`` category map before claiming a folder.

    A COCO file or an inline map given to ``new`` that fails these checks, a class table with two
    classes of one name, or a softmax model over one class is invalid input (exit 2): nothing has
    been written yet, and the user's next step is to fix what they gave.
    """
    from abyssexp.datasets.category_map import load_category_map, read_map_value, validate_logits
    from abyssexp.datasets.quick import build_category_map_from_file, quick_check_coco

    dataset = params.dataset
    try:
        checked = {
            name: quick_check_coco(plan[name])
            for name in (layout.TRAIN_COCO, layout.VAL_COCO)
            if name in plan
        }
        if dataset.translator == "caption" and isinstance(dataset.caption_map, dict):
            raw, source = read_map_value(dataset.caption_map, None, "dataset.caption_map")
            validate_logits(raw, source)
        if dataset.map_by and dataset.category_map is None and layout.TRAIN_COCO in plan:
            built, found = build_category_map_from_file(plan[layout.TRAIN_COCO], dataset.map_by)
            notes.extend(found)
            dataset = dataset.model_copy(update={"category_map": built})
            params = params.model_copy(update={"dataset": dataset})
        if isinstance(dataset.category_map, dict) and layout.TRAIN_COCO in checked:
            load_category_map(
                dataset.category_map,
                checked[layout.TRAIN_COCO].get("categories", []),
                coco_source=str(plan[layout.TRAIN_COCO]),
                what="dataset.category_map",
            )
        if layout.TRAIN_COCO not in checked and isinstance(dataset.category_map, dict):
            validate_logits(dataset.category_map, "dataset.category_map (inline)")
    except DatasetError as exc:
        raise InvalidInputError(str(exc)) from None
    return params


def _check_data(
    request: NewExperimentRequest,
    params: Params,
    plan: dict[str, Path],
    parent_root: Path | None,
    notes: list[str],
) -> DataFindings:
    """The verdict on what trains, small data and train/val overlap, on the files to copy."""
    from abyssexp.experiment.data_checks import check_new_data

    files = {
        split: plan[name]
        for split, name in (("train", layout.TRAIN_COCO), ("val", layout.VAL_COCO))
        if name in plan
    }
    return check_new_data(
        params,
        files,
        parent_root or Path.cwd(),
        notes,
        force_data=request.force_data,
        allow_leaks=request.allow_leaks,
        near_check=request.near_check,
        scratch=request.scratch,
    )

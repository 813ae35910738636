"""What ``new`` checks about the data before it claims a number: the verdict on what trains
(``abyssexp.datasets.class_table``, the one ``data check`` and ``train`` use), small data, and
train/validation overlap. A problem refuses the experiment (exit 2) unless the user insists with
a flag; the insistence and the warnings are kept in the record, where ``show`` and ``train`` read
them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from abyssexp.errors import DatasetError, InvalidInputError
from abyssexp.schemas.params import Params

if TYPE_CHECKING:
    from abyssexp.datasets.class_table import ClassTable

#: The flags that create an experiment despite a data problem (each recorded when used).
FORCE_DATA = "--force-data"
ALLOW_LEAKS = "--allow-leaks"


class DataRecordFields(TypedDict, total=False):
    """The record's fields for what ``new``'s data checks found and the user accepted."""

    data_warnings: list[str]
    data_overrides: list[dict[str, Any]]


@dataclass(frozen=True)
class DataFindings:
    """What the data checks found and the user accepted: record fields for the new record."""

    warnings: list[str] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def record_fields(self) -> DataRecordFields:
        fields: DataRecordFields = {}
        if self.warnings:
            fields["data_warnings"] = self.warnings
        if self.overrides:
            fields["data_overrides"] = self.overrides
        return fields


def check_new_data(
    params: Params,
    files: Mapping[str, Path],
    root: Path,
    notes: list[str],
    force_data: bool = False,
    allow_leaks: bool = False,
    near_check: bool = True,
    scratch: Path | None = None,
) -> DataFindings:
    """The class-table verdict and the overlap guard on ``new``'s files (``train``, ``val``).

    Args:
        params: the params the experiment is created with (images folders already found).
        files: the COCO files about to be copied, per split.
        root: what relative paths in params are relative to.
        notes: what was found and decided is appended here.
        force_data: create it although the verdict is "not usable" (recorded).
        allow_leaks: create it although images are in both splits (recorded).
        near_check: also look for near-duplicates across the splits (a warning, recorded).
        scratch: the scratch root whose hash cache is used (default: the configured one).

    Raises:
        InvalidInputError: not usable, or overlapping splits, without the flag that allows it.
    """
    findings = DataFindings()
    if "train" not in files:
        return findings
    table = _table(params, files, root, notes)
    if table is not None:
        findings.warnings.extend(table.warnings)
        if table.problems and not force_data:
            raise InvalidInputError(
                table.problems[0],
                problems=[
                    *table.problems,
                    f"(pass {FORCE_DATA} to create it anyway; the override is recorded)",
                ],
            )
        if table.problems:
            findings.overrides.append({"flag": FORCE_DATA, "problems": list(table.problems)})
    if "val" in files:
        _overlap_guard(params, files, root, allow_leaks, findings, near_check, scratch)
    return findings


def _table(
    params: Params, files: Mapping[str, Path], root: Path, notes: list[str]
) -> ClassTable | None:
    """The class table, or None where it can only be built when training starts (a map file,
    read relative to the experiment folder)."""
    from abyssexp.datasets.class_table import class_table

    dataset = params.dataset
    if isinstance(dataset.category_map, str) or isinstance(dataset.caption_map, str):
        notes.append("the class table is checked when training starts (the map is a file)")
        return None
    if dataset.translator == "category" and dataset.category_map is None and not dataset.map_by:
        from abyssexp.datasets.category_map import automatic_category_map
        from abyssexp.datasets.quick import load_coco_json

        data = load_coco_json(files["train"])
        notes.extend(automatic_category_map(data, "category", str(files["train"]))[1])
    softmax = params.model.output_activation == "softmax"
    try:
        table = class_table(dataset, softmax, root, files, style="params")
    except DatasetError as exc:
        raise InvalidInputError(str(exc)) from None
    notes.extend(table.notes)
    return table


def _overlap_guard(
    params: Params,
    files: Mapping[str, Path],
    root: Path,
    allow: bool,
    findings: DataFindings,
    near_check: bool = True,
    scratch: Path | None = None,
) -> None:
    """Refuse images that are in the training and the validation split (same file, or same
    content), naming the ``data leaks`` command that lists them; warn of near-duplicates (the
    verdict ``data check --val`` gives: ``datasets.leaks.check_split_leaks``)."""
    from abyssexp.datasets.hash_cache import open_hash_cache
    from abyssexp.datasets.leaks import check_split_leaks
    from abyssexp.datasets.locate import find_image_dir
    from abyssexp.datasets.quick import load_coco_json
    from abyssexp.datasets.split_datasets import split_image_dir

    folders = {}
    for split in ("train", "val"):
        folder = split_image_dir(params.dataset, split, root)
        if folder is None:
            folder = find_image_dir(files[split], load_coco_json(files[split])["images"]).path
        folders[split] = (files[split], folder)
    leaks = check_split_leaks(folders, near=near_check, hashes=open_hash_cache(scratch))
    findings.warnings.extend(leaks.warnings())
    problems = leaks.problems()
    if not problems:
        return
    if not allow:
        raise InvalidInputError(
            problems[0], problems=[*problems, f"(pass {ALLOW_LEAKS} to create it anyway; recorded)"]
        )
    findings.overrides.append(
        {"flag": ALLOW_LEAKS, "problems": problems, "pairs": len(leaks.identical)}
    )

"""A sweep file: ``<scratch>/<project>/<type>/.sweeps/<id>.json``.

A sweep is a group of ordinary experiments (its *trials*) made by one ``abyssexp sweep new``: a
grid of values, random draws, seeds and folds. The file lists the trials and how they were made;
everything else (status, results, Slurm jobs) lives in each trial's own record.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: A trial's folder name read from a sweep file: one plain folder name (``NNN.PARTS``), never a
#: path (``../../victim``), so ``sweep run`` only ever works inside the sweep's type folder.
TRIAL_NAME_RE = re.compile(r"^[0-9]+\.[A-Za-z0-9_.+=-]+$")

SWEEP_VERSION = 1


class Trial(BaseModel):
    """One experiment of the sweep and the values that make it differ."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="Position in the sweep, from 0.")
    name: str = Field(description="The experiment folder's name, `NNN.DATASET_INFO.INFO...`.")
    number: int = Field(description="The experiment number.")
    values: dict[str, Any] = Field(
        default_factory=dict, description="Dotted param → value set for this trial."
    )
    seed: int | None = Field(None, description="training.seed of this trial, with --seeds.")
    fold: int | None = Field(None, description="The held-out fold (0-based), with --folds.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not TRIAL_NAME_RE.match(value) or ".." in value:
            raise ValueError(f"{value!r} is not an experiment folder name (NNN.PARTS, no '/')")
        return value


class Sweep(BaseModel):
    """What ``sweep new`` made, read by ``sweep run``, ``list --sweep`` and ``compare --sweep``."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(SWEEP_VERSION, description="Version of this file's layout.")
    id: str = Field(description="`sNNN`, unique within the experiment type.")
    project: str = Field(description="The project folder.")
    type: str = Field(description="The experiment type folder.")
    created: str = Field(description="When (UTC, ISO 8601).")
    user: str = Field(description="Who ran `sweep new`.")
    command_line: list[str] = Field(description="The `abyssexp sweep new` command line.")
    base: str | None = Field(None, description="The experiment given with --from.")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="--grid: dotted param → the values tried."
    )
    random: dict[str, str] = Field(
        default_factory=dict, description="--random: dotted param → its distribution."
    )
    random_trials: int = Field(0, description="--trials: random draws per grid point.")
    random_seed: int = Field(0, description="Seed of the random draws.")
    seeds: int = Field(0, description="--seeds: training seeds per point (0: params' seed).")
    folds: int = Field(0, description="--folds: K of the stratified K-fold (0: none).")
    trials: list[Trial] = Field(default_factory=list, description="The experiments, in order.")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

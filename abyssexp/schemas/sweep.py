"""A sweep file: ``<scratch>/<project>/<type>/.sweeps/<id>.json``.

A sweep is a group of ordinary experiments (its *trials*) made by one ``abyssexp sweep new``: a
grid of values, random draws, seeds and folds. The file lists the trials and how they were made;
everything else (status, results, Slurm jobs) lives in each trial's own record.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from abyssexp.metric_direction import DIRECTIONS

#: A trial's folder name read from a sweep file: one plain folder name (``NNN.PARTS``), never a
#: path (``../../victim``), so ``sweep run`` only ever works inside the sweep's type folder.
TRIAL_NAME_RE = re.compile(r"^[0-9]+\.[A-Za-z0-9_.+=-]+$")

#: The study's journal file, read from the sweep file: beside it, never a path elsewhere.
STUDY_NAME_RE = re.compile(r"^s[0-9]+\.optuna\.journal$")

SWEEP_VERSION = 1


#: More trials than this is almost always a typo in a grid; split the sweep instead. Bounded
#: where a sweep file is read too (``sweep run`` of an edited file), not only by ``sweep new``.
MAX_TRIALS = 1000


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
    optuna_trial: int | None = Field(
        None, description="The Optuna trial number it was asked as (--search optuna)."
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not TRIAL_NAME_RE.match(value) or ".." in value:
            raise ValueError(f"{value!r} is not an experiment folder name (NNN.PARTS, no '/')")
        return value


class OptunaSearch(BaseModel):
    """``--search optuna``: what each slot asks the study for, and how trials are made.

    Trials are not made at ``sweep new``: each slot asks the study when it starts and creates
    its experiment then, from the fields below (the same creation code as every trial).
    """

    model_config = ConfigDict(extra="forbid")

    trials: int = Field(
        ge=1, le=MAX_TRIALS, description="--trials: how many trials (slots) the study runs."
    )
    metric: str = Field(description="--metric: the logged metric a finished trial tells.")
    direction: str = Field(description="--direction: maximize or minimize.")
    space: dict[str, str] = Field(description="--space: dotted param → its distribution.")
    pruner: str | None = Field(None, description="--pruner: median, or null (no pruning).")
    study: str = Field(description="The study's journal file, beside this sweep file.")
    study_name: str = Field(description="The study's name in that journal.")
    base: str = Field(description="The --from experiment, as PROJECT/TYPE/NAME.")
    dataset_info: str = Field(description="The first name part of every trial.")
    infos: list[str] = Field(default_factory=list, description="More name parts.")
    overrides: list[tuple[str, Any]] = Field(
        default_factory=list, description="--set KEY=VALUE pairs every trial gets."
    )
    note: str = Field("", description="--note of the sweep.")

    @field_validator("direction")
    @classmethod
    def _known_direction(cls, value: str) -> str:
        # ``sweep run`` and ``compare --sweep`` rank trials by it: a planted word would rank
        # them silently one way or the other.
        if value not in DIRECTIONS:
            raise ValueError(f"{value!r} is not a direction ({' or '.join(DIRECTIONS)})")
        return value

    @field_validator("study")
    @classmethod
    def _plain_study(cls, value: str) -> str:
        if not STUDY_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a study file name (sNNN.optuna.journal, no '/')")
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
    trials: list[Trial] = Field(
        default_factory=list, max_length=MAX_TRIALS, description="The experiments, in order."
    )
    optuna: OptunaSearch | None = Field(
        None, description="--search optuna: the study; trials are added as slots start them."
    )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

"""Sweeps: many ordinary experiments made by one command, and the small file that groups them.

``sweep new`` expands a grid (``--grid training.lr=1e-3,5e-4``), random draws
(``--random training.lr=loguniform(1e-4,1e-2) --trials 8``), seeds (``--seeds 3``) and folds
(``--folds 5``) into trials, each a numbered experiment with its own params, readme and record.
Everything is checked and every trial is built under a hidden name before any of them appears;
a failure leaves no trial, no claimed number and no sweep file behind. The sweep file,
``<scratch>/<project>/<type>/.sweeps/<id>.json``, is written last.
"""

from __future__ import annotations

import math
import random
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from abyssexp.atomic import atomic_write_json, atomic_write_text, deferred_sync, fsync_dir
from abyssexp.debris import owner_tag, remove_stale
from abyssexp.errors import ExperimentNotFoundError, InvalidInputError, shorten
from abyssexp.experiment.create import (
    STAGING_PREFIX,
    NewExperimentRequest,
    StagedExperiment,
    discard_experiment,
    publish_experiment,
    remove_stale_staging,
    stage_experiment,
)
from abyssexp.experiment.layout import MAKE_DATASETS, SWEEPS_DIR, TRAIN_COCO, VAL_COCO
from abyssexp.experiment.naming import MAX_PART_LENGTH, PART_RE, format_number, validate_part
from abyssexp.experiment.numbering import claim_next_number, release_claim
from abyssexp.experiment.provenance import collect_provenance, current_user
from abyssexp.experiment.record_file import utc_now
from abyssexp.experiment.refs import resolve_ref
from abyssexp.jsonio import read_json
from abyssexp.owned import make_dirs, rmtree_inside
from abyssexp.schemas.resolve import load_params_file, resolve_params
from abyssexp.schemas.sweep import MAX_TRIALS, Sweep, Trial

if TYPE_CHECKING:
    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.schemas.params import Params

SWEEP_ID_RE = re.compile(r"^s(\d+)$")
DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")


@dataclass(frozen=True)
class SweepRequest:
    """What ``sweep new`` asks for."""

    scratch: Path
    project: str
    experiment_type: str
    dataset_info: str
    base_ref: str
    infos: Sequence[str] = ()
    grid: Sequence[str] = ()
    random: Sequence[str] = ()
    trials: int = 0
    seeds: int = 0
    folds: int = 0
    fold_group_by: str | None = None
    random_seed: int = 0
    overrides: Sequence[tuple[str, Any]] = ()
    note: str = ""
    command_line: Sequence[str] | None = None
    search: str = "grid"
    space: Sequence[str] = ()
    metric: str | None = None
    direction: str | None = None
    pruner: str | None = None


@dataclass(frozen=True)
class TrialPlan:
    """One trial before it exists: the values it sets, its seed and fold."""

    values: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    fold: int | None = None


@dataclass(frozen=True)
class Distribution:
    """``loguniform(1e-4,1e-2)``: what ``--random`` draws from."""

    kind: str
    args: tuple[Any, ...]
    text: str

    def draw(self, rng: random.Random) -> Any:
        if self.kind == "uniform":
            return rng.uniform(*self.args)
        if self.kind == "loguniform":
            low, high = (math.log(v) for v in self.args)
            return math.exp(rng.uniform(low, high))
        if self.kind == "randint":
            return rng.randint(*self.args)
        return rng.choice(self.args)


def split_values(text: str) -> list[str]:
    """``1e-3,[1,2],'a,b'`` → ``["1e-3", "[1,2]", "'a,b'"]``: commas inside brackets or quotes
    do not split."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def _key_value(item: str, option: str, example: str) -> tuple[str, str]:
    key, sep, rest = item.partition("=")
    if not sep or not key.strip() or not rest.strip():
        raise InvalidInputError(
            f"{option} {shorten(repr(item))}: expected KEY=..., e.g. {option} {example}"
        )
    return key.strip(), rest.strip()


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["training.lr=1e-3,5e-4"]`` → ``{"training.lr": [0.001, 0.0005]}``.

    Raises:
        InvalidInputError: no ``=``, an empty value, a key given twice.
    """
    from abyssexp.literals import parse_set_value

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, rest = _key_value(item, "--grid", "training.lr=1e-3,5e-4")
        if key in grid:
            raise InvalidInputError(
                f"--grid {shorten(key)}: given twice; list every value in one --grid"
            )
        values = split_values(rest)
        if any(v == "" for v in values):
            raise InvalidInputError(f"--grid {shorten(repr(item))}: an empty value between commas")
        grid[key] = [parse_set_value(v, what=f"--grid {shorten(key)}") for v in values]
    return grid


def parse_random(items: Sequence[str], option: str = "--random") -> dict[str, Distribution]:
    """``["training.lr=loguniform(1e-4,1e-2)"]`` → ``{"training.lr": Distribution(...)}``.

    Safe: each argument goes through the literal parser, never ``eval``; ``option`` names the
    flag in errors (``--random``, ``--space``).
    """
    from abyssexp.literals import parse_set_value

    space: dict[str, Distribution] = {}
    for item in items:
        key, rest = _key_value(item, option, "training.lr=loguniform(1e-4,1e-2)")
        if key in space:
            raise InvalidInputError(f"{option} {shorten(key)}: given twice; give one distribution")
        match = re.fullmatch(r"(\w+)\((.*)\)", rest)
        kind = match[1] if match else ""
        if match is None or kind not in DISTRIBUTIONS:
            raise InvalidInputError(
                f"{option} {shorten(repr(item))}: expected one of "
                f"{', '.join(d + '(...)' for d in DISTRIBUTIONS)}"
                ", e.g. loguniform(1e-4,1e-2), randint(16,64), choice(a,b)"
            )
        args = tuple(
            parse_set_value(v, what=f"{option} {shorten(key)}") for v in split_values(match[2])
        )
        _check_distribution(f"{option} {shorten(repr(item))}", kind, args)
        space[key] = Distribution(kind, args, rest)
    return space


def _finite_float(value: float) -> bool:
    """A bound the samplers can use: finite as a float (10**1000 is an int no float holds)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_distribution(where: str, kind: str, args: tuple[Any, ...]) -> None:
    if kind == "choice":
        if not args or args == ("",):
            raise InvalidInputError(f"{where}: choice(...) needs at least one value")
        return
    numbers = all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
    if len(args) != 2 or not numbers or not all(_finite_float(a) for a in args):
        raise InvalidInputError(f"{where}: {kind}(LOW,HIGH) needs two numbers, LOW<HIGH")
    if args[0] >= args[1]:
        raise InvalidInputError(f"{where}: {kind}(LOW,HIGH) needs LOW < HIGH")
    if kind == "loguniform" and args[0] <= 0:
        raise InvalidInputError(f"{where}: loguniform needs LOW > 0")
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        raise InvalidInputError(f"{where}: randint needs two integers")


#: Most folds of a ``--folds`` K-fold split.
MAX_FOLDS = 1000


def plan_trials(
    grid: dict[str, list[Any]],
    space: dict[str, Distribution],
    random_trials: int,
    seeds: int,
    folds: int,
    base_seed: int,
    random_seed: int = 0,
) -> list[TrialPlan]:
    """Every trial: grid points × random draws × seeds × folds, in that order (pure).

    Raises:
        InvalidInputError: nothing to sweep, ``--random`` without ``--trials``, a negative
            count, ``--folds 1`` or past ``MAX_FOLDS``, or more than ``MAX_TRIALS`` trials.
    """
    if folds < 0 or folds == 1 or folds > MAX_FOLDS:
        raise InvalidInputError(
            f"--folds: 0 (no folds) or 2..{MAX_FOLDS} (K-fold needs K >= 2). Received: {folds}"
        )
    if seeds < 0 or random_trials < 0:
        raise InvalidInputError(
            f"--seeds and --trials count: >= 0. Received: {seeds}, {random_trials}"
        )
    if space and random_trials < 1:
        raise InvalidInputError("--random needs --trials N (how many draws), e.g. --trials 8")
    if random_trials and not space:
        raise InvalidInputError("--trials counts random draws: give --random KEY=DIST too")
    count = math.prod(len(v) for v in grid.values()) * max(random_trials, 1)
    count *= max(seeds, 1) * max(folds, 1)
    if not (grid or space or seeds or folds):
        raise InvalidInputError(
            "sweep new: nothing to sweep; give --grid, --random, --seeds or --folds"
        )
    if count > MAX_TRIALS:
        raise InvalidInputError(
            f"sweep new: {count} trials is more than {MAX_TRIALS}; split the sweep"
        )
    rng = random.Random(random_seed)
    points = [dict(zip(grid, values, strict=True)) for values in product(*grid.values())]
    trials = []
    for point in points:
        for _ in range(max(random_trials, 1)):
            drawn = {key: dist.draw(rng) for key, dist in space.items()}
            for seed_index in range(max(seeds, 1)):
                for fold in range(folds) if folds else [None]:
                    seed = base_seed + seed_index if seeds else None
                    trials.append(TrialPlan({**point, **drawn}, seed, fold))
    return trials


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        text = f"{value:.3g}"
        if "e" in text or (value != 0 and abs(value) < 0.1):
            mantissa, exponent = f"{value:.2e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            text = f"{mantissa}e{int(exponent)}"
        return text.replace(".", "p")
    if isinstance(value, list | tuple):
        return "x".join(_token(v) for v in value)
    return re.sub(r"[^A-Za-z0-9_+\-]", "-", str(value)).strip("-") or "x"


def name_part(key: str, value: Any) -> str:
    """A name part for one value: ``training.lr``=0.0005 → ``lr5e-4``, ``model.backbone``=
    ``mobilenet`` → ``backbone-mobilenet``; always a valid part."""
    short = key.rsplit(".", 1)[-1]
    token = _token(value)
    part = f"{short}-{token}" if isinstance(value, str) else f"{short}{token}"
    part = part[:MAX_PART_LENGTH].lstrip("-")
    return part if PART_RE.match(part) else short[:MAX_PART_LENGTH]


def trial_parts(trial: TrialPlan) -> list[str]:
    parts = [name_part(key, value) for key, value in trial.values.items()]
    if trial.seed is not None and "training.seed" not in trial.values:
        parts.append(f"seed{trial.seed}")
    if trial.fold is not None:
        parts.append(f"fold{trial.fold}")
    return parts


def _overrides(trial: TrialPlan) -> list[tuple[str, Any]]:
    overrides = list(trial.values.items())
    if trial.seed is not None and "training.seed" not in trial.values:
        overrides.append(("training.seed", trial.seed))
    return overrides


@dataclass(frozen=True)
class SweepLocation:
    """Where a sweep file is, and what it holds."""

    path: Path
    sweep: Sweep

    @property
    def type_dir(self) -> Path:
        return self.path.parent.parent

    @property
    def ref(self) -> str:
        return f"{self.sweep.project}/{self.sweep.type}/{self.sweep.id}"

    def trial_roots(self) -> list[Path]:
        return [self.type_dir / trial.name for trial in self.sweep.trials]


def create_sweep(request: SweepRequest) -> SweepLocation:
    """Plan, check and create every trial, then write the sweep file; all or nothing.

    Raises:
        InvalidInputError: a bad option, key or value (nothing is created).
        ExperimentNotFoundError: ``--from`` names no experiment.
    """
    _check_grid_search(request)  # ``--search optuna``: ``sweeps.optuna_search.create_optuna_sweep``
    project = validate_part(request.project, "project")
    experiment_type = validate_part(request.experiment_type, "experiment type")
    base = resolve_ref(request.base_ref, request.scratch)
    base_params = resolve_params(load_params_file(base.params), source=str(base.params))
    grid, space = parse_grid(request.grid), parse_random(request.random)
    trials = plan_trials(
        grid,
        space,
        request.trials,
        request.seeds,
        request.folds,
        base_params.training.seed,
        request.random_seed,
    )
    for key in [*grid, *space]:  # a bad key is named once, before anything is written
        resolve_params(base_params.model_dump(mode="json"), [(key, _example(grid, space, key))])
    type_dir = request.scratch / project / experiment_type
    sweeps_dir = make_dirs(type_dir / SWEEPS_DIR)
    remove_stale(sweeps_dir, STAGING_PREFIX, sweeps_dir)  # a killed `sweep new`'s work folder
    remove_stale_staging(type_dir)  # and its half-made trials
    number, claim = claim_next_number(sweeps_dir)
    sweep_id = f"s{format_number(number)}"
    work = sweeps_dir / f"{STAGING_PREFIX}{owner_tag()}.{sweep_id}"
    staged: list[StagedExperiment] = []
    try:
        work.mkdir()
        fold_files = _write_folds(request, base, sweep_id, work, base_params)
        command_line = list(request.command_line or sys.argv)
        provenance = collect_provenance(command_line)
        from abyssexp.datasets.leaks import verdicts_shared  # numpy: only when trials are made
        from abyssexp.experiment.list_rows import collector_paused

        # Hidden until published: one flush for every trial's files; trials of one dataset
        # share one leak verdict.
        with deferred_sync(), verdicts_shared(), collector_paused():  # no cycles made here
            for index, trial in enumerate(trials):
                trial_request = _trial_request(request, trial, index, sweep_id, fold_files)
                fields = {"sweep": f"{project}/{experiment_type}/{sweep_id}"}
                staged.append(stage_experiment(trial_request, provenance, fields))
        sweep = Sweep(
            id=sweep_id,
            project=project,
            type=experiment_type,
            created=utc_now(),
            user=current_user(),
            command_line=command_line,
            base=request.base_ref,
            grid=grid,
            random={key: dist.text for key, dist in space.items()},
            random_trials=request.trials,
            random_seed=request.random_seed,
            seeds=request.seeds,
            folds=request.folds,
            trials=_trial_entries(staged, trials),
        )
        for item in staged:
            publish_experiment(item, sync=False)
        fsync_dir(type_dir)
        path = sweeps_dir / f"{sweep_id}.json"
        atomic_write_json(path, sweep.to_json())
    except BaseException:
        for item in staged:
            if item.staging.exists():
                discard_experiment(item)
        release_claim(claim)
        raise
    finally:
        if work.exists():
            rmtree_inside(work, sweeps_dir)
        if not any(sweeps_dir.iterdir()):
            sweeps_dir.rmdir()  # a refused first sweep leaves no empty .sweeps/ behind
    return SweepLocation(path, sweep)


def _check_grid_search(request: SweepRequest) -> None:
    """The options only ``--search optuna`` takes are refused without it."""
    if request.search != "grid":
        raise InvalidInputError(f"--search: grid or optuna. Received: {request.search}")
    extra = [
        flag
        for flag, value in (
            ("--space", request.space),
            ("--metric", request.metric),
            ("--direction", request.direction),
            ("--pruner", request.pruner),
        )
        if value
    ]
    if extra:
        raise InvalidInputError(f"{', '.join(extra)}: only with --search optuna")


def _trial_entries(staged: list[StagedExperiment], trials: list[Any]) -> list[Trial]:
    """The sweep file's line for each trial: its experiment and what it varies."""
    return [
        Trial(
            index=i,
            name=s.experiment.name,
            number=s.experiment.number,
            values=t.values,
            seed=t.seed,
            fold=t.fold,
        )
        for i, (s, t) in enumerate(zip(staged, trials, strict=True))
    ]


def _example(grid: dict[str, list[Any]], space: dict[str, Distribution], key: str) -> Any:
    if key in grid:
        return grid[key][0]
    return space[key].draw(random.Random(0))


def _trial_request(
    request: SweepRequest,
    trial: TrialPlan,
    index: int,
    sweep_id: str,
    fold_files: dict[int, tuple[Path, Path, Path, str]],
) -> NewExperimentRequest:
    overrides = [*request.overrides, *_overrides(trial)]
    described = " ".join(f"{k}={v}" for k, v in trial.values.items())
    extra = {"seed": trial.seed, "fold": trial.fold}
    described += "".join(f" {k}={v}" for k, v in extra.items() if v is not None)
    note = f"sweep {sweep_id} trial {index}: {described.strip()}"
    trial_request = NewExperimentRequest(
        scratch=request.scratch,
        project=request.project,
        experiment_type=request.experiment_type,
        dataset_info=request.dataset_info,
        infos=[*request.infos, *trial_parts(trial)],
        overrides=overrides,
        parent_ref=request.base_ref,
        note=f"{request.note} ({note})" if request.note else note,
        command_line=request.command_line,
    )
    if trial.fold is None:
        return trial_request
    train, val, script, image_dir = fold_files[trial.fold]
    image_dirs = {"train": image_dir, "val": image_dir}
    return replace(
        trial_request,
        train=train,
        val=val,
        make_datasets=script,
        overrides=[*overrides, ("dataset.image_dir", image_dirs)],
    )


def _write_folds(
    request: SweepRequest,
    base: ExperimentPaths,
    sweep_id: str,
    work: Path,
    base_params: Params,
) -> dict[int, tuple[Path, Path, Path, str]]:
    """Each fold's training and validation files and its make-datasets.sh, in ``work``."""
    if not request.folds:
        if request.fold_group_by is not None:
            raise InvalidInputError(
                f"--group-by {shlex.quote(request.fold_group_by)}: it keeps groups whole in "
                "folds; add --folds K (e.g. --folds 5)"
            )
        return {}
    from abyssexp.datasets.folds import source_fold_groups, write_fold
    from abyssexp.datasets.split_datasets import resolve_split_path, split_image_dir

    source = resolve_split_path(base_params.dataset, "train", base.root)
    image_dir = split_image_dir(base_params.dataset, "train", base.root) or source.parent
    seed = request.random_seed
    group_by = request.fold_group_by
    groups = source_fold_groups(source, Path(image_dir), group_by)  # once for every fold
    files = {}
    for fold in range(request.folds):
        folder = work / f"fold{fold}"
        folder.mkdir()
        train, val = folder / TRAIN_COCO, folder / VAL_COCO
        write_fold(source, request.folds, fold, seed, train, val, Path(image_dir), group_by, groups)
        script = folder / MAKE_DATASETS
        command = [
            "abyssexp", "sweep", "fold", str(source), "--folds", str(request.folds),
            "--fold", str(fold), "--seed", str(seed), "--image-dir", str(image_dir),
            *(["--group-by", group_by] if group_by is not None else []),
            "--train-out", TRAIN_COCO, "--val-out", VAL_COCO,
        ]  # fmt: skip
        atomic_write_text(
            script,
            "#!/usr/bin/env bash\n"
            f"# Sweep {sweep_id}: fold {fold} of a stratified {request.folds}-fold split "
            f"(seed {seed}; images of the same content in one fold) of\n# {source}\n"
            f"# {TRAIN_COCO} holds the other folds, {VAL_COCO} this one (the validation set).\n"
            "set -euo pipefail\n"
            'cd "$(dirname "$0")"\n'
            f"{shlex.join(command)}\n",
        )
        files[fold] = (train, val, script, str(image_dir))
    return files


def sweep_file(type_dir: Path, sweep_id: str) -> Path:
    return type_dir / SWEEPS_DIR / f"{sweep_id}.json"


def _normal_id(text: str) -> str | None:
    match = SWEEP_ID_RE.match(text)
    return f"s{format_number(int(match[1]))}" if match else None


def resolve_sweep(ref: str, scratch: Path) -> SweepLocation:
    """A sweep from ``PROJECT/TYPE/sNNN``, a bare ``sNNN`` (when one type has it) or its file.

    Raises:
        ExperimentNotFoundError: no such sweep, or a bare id that several types have.
    """
    as_path = Path(ref).expanduser()
    if as_path.suffix == ".json" and as_path.is_file():
        return _sweep_at(as_path.absolute())
    parts = ref.strip("/").split("/")
    sweep_id = _normal_id(parts[-1])
    if sweep_id is None or len(parts) not in (1, 3):
        raise ExperimentNotFoundError(
            f"sweep {ref!r}: expected PROJECT/TYPE/sNNN, sNNN or a sweep file; "
            "`abyssexp sweep list` shows the sweeps"
        )
    if len(parts) == 3:
        candidates = [sweep_file(scratch / parts[0] / parts[1], sweep_id)]
    else:
        candidates = sorted(scratch.glob(f"*/*/{SWEEPS_DIR}/{sweep_id}.json"))
    found = [path for path in candidates if path.is_file()]
    if not found:
        raise ExperimentNotFoundError(
            f"sweep {ref!r}: not found under {scratch}; `abyssexp sweep list` shows the sweeps"
        )
    if len(found) > 1:
        names = ", ".join(f"{p.parent.parent.parent.name}/{p.parent.parent.name}" for p in found)
        raise ExperimentNotFoundError(
            f"sweep {ref!r} is in several types ({names}); give PROJECT/TYPE/{sweep_id}"
        )
    return SweepLocation(found[0], load_sweep(found[0]))


def _sweep_at(path: Path) -> SweepLocation:
    """A sweep file given by path: only one in its own ``<project>/<type>/.sweeps/`` folder,
    so its trials (named relative to that folder) never land anywhere else.

    Raises:
        InvalidInputError: the file is elsewhere, or names another project or type.
    """
    sweep = load_sweep(path)
    where = (path.parent.name, path.parent.parent.name, path.parent.parent.parent.name)
    if where != (SWEEPS_DIR, sweep.type, sweep.project) or path.stem != sweep.id:
        raise InvalidInputError(
            f"{path}: not a sweep file in its place <scratch>/{sweep.project}/{sweep.type}/"
            f"{SWEEPS_DIR}/{sweep.id}.json; give PROJECT/TYPE/sNNN instead"
        )
    return SweepLocation(path, sweep)


def load_sweep(path: Path) -> Sweep:
    data = read_json(path, str(path), InvalidInputError)
    try:
        return Sweep.model_validate(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise InvalidInputError(f"{path}: field {where}: {problem['msg']}") from None


def list_sweeps(
    scratch: Path, project: str = "*", experiment_type: str = "*"
) -> list[SweepLocation]:
    """Every readable sweep under the scratch root, oldest first within each type."""
    found = []
    for path in sorted(scratch.glob(f"{project}/{experiment_type}/{SWEEPS_DIR}/s*.json")):
        try:
            found.append(SweepLocation(path, load_sweep(path)))
        except InvalidInputError:
            continue
    return found

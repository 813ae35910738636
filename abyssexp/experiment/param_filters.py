"""``list --changed`` and ``--filter``: compare experiments by their flattened params."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.list_rows import ListRow, collector_paused, read_params_dict

SECTIONS = {"dataset", "model", "training", "augmentation", "callbacks", "reduce_lr_on_plateau"}


def flatten_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"training": {"lr": 1}}`` → ``{"training.lr": 1}``; free-form dicts stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():  # `key in SECTIONS` first: it settles most keys cheaply
        if key in SECTIONS and isinstance(value, dict):
            flat.update(flatten_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Delta(Mapping[str, Any]):
    """An experiment's flattened params as a difference from a base shared by every experiment
    of the command (``set``: keys whose JSON text differs from the base's, or that the base
    lacks; ``unset``: base keys it lacks). ``listing`` compares two deltas of one base by their
    differences alone; anything else reads it as the mapping it stands for."""

    __slots__ = ("base", "set", "unset")

    def __init__(self, base: dict[str, Any], set_: dict[str, Any], unset: frozenset[str]) -> None:
        self.base, self.set, self.unset = base, set_, unset

    def __getitem__(self, key: str) -> Any:
        if key in self.set:
            return self.set[key]
        if key in self.unset:
            raise KeyError(key)
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self.base if k not in self.unset and k not in self.set)
        yield from self.set

    def __len__(self) -> int:
        return len(self.base) - len(self.unset) + sum(k not in self.base for k in self.set)

    def differing_keys(self) -> set[str]:
        """The keys where this mapping may differ from its base."""
        return self.set.keys() | self.unset


def delta_of(flat: dict[str, Any], base: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``flat`` as (set, unset) against ``base``: a value is left to the base only when its
    JSON text is the base's (``1`` and ``1.0``, ``-0.0`` and ``0.0``, or a dict's key order
    differ), so that what is shown from the base is what the experiment's file holds."""
    set_ = {k: v for k, v in flat.items() if k not in base or not _identical(v, base[k])}
    return set_, [k for k in base if k not in flat]


def _identical(value: Any, other: Any) -> bool:
    """Whether ``value`` and ``other`` have the same JSON text, a dict's key order included."""
    return _same_text(value, other, ordered=True)


def _flat_for(row: ListRow) -> Mapping[str, Any]:
    if "_flat" not in row:
        row["_flat"] = flatten_params(read_params_dict(Path(row["path"])))
    return row["_flat"]


_PLAIN = frozenset((str, int, bool, float, type(None)))
_HIDDEN = ("dataset.train", "dataset.val", "dataset.image_dir")


def _same(value: Any, reference: Any) -> bool:
    """Whether two params have the same JSON text: ``1``, ``1.0`` and ``true`` differ, NaN
    equals NaN, lists and dicts compare by content (``json.dumps`` only for those)."""
    if value is reference:
        return True
    kind = type(value)
    if kind is not type(reference):
        return False
    if kind in _PLAIN:
        return value == reference or (kind is float and value != value and reference != reference)
    return _same_text(value, reference)


def _same_text(value: Any, reference: Any, ordered: bool = False) -> bool:
    """Whether two values have the same ``json.dumps(..., sort_keys=True)`` (``ordered``: the
    same ``json.dumps``, a dict's key order included), compared part by part rather than
    printed (``compare`` makes this check for every list and dict param of every experiment): a
    float's text is its ``repr`` (``-0.0`` and ``0.0`` differ inside a list), other plain values
    by equality of one type."""
    kind = type(value)
    if kind is not type(reference):
        return False
    if kind is float:
        return repr(value) == repr(reference)
    if kind is list:
        return len(value) == len(reference) and all(
            _same_text(a, b, ordered) for a, b in zip(value, reference, strict=True)
        )
    if kind is dict and all(type(k) is str for k in value):
        keys_equal = list(value) == list(reference) if ordered else value.keys() == reference.keys()
        return keys_equal and all(
            _same_text(item, reference[key], ordered) for key, item in value.items()
        )
    if kind in _PLAIN:
        return bool(value == reference)
    sort_keys = not ordered
    return json.dumps(value, sort_keys=sort_keys) == json.dumps(reference, sort_keys=sort_keys)


def _differences(flat: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The params of ``flat`` that are not ``_same`` as the reference's. Equal plain values of
    one type (most of them) are settled inline; the rest go through ``_same``."""
    get = reference.get
    mine = {}
    for key, value in flat.items():
        other = get(key)
        kind = value.__class__
        if value is other or (kind is other.__class__ and kind in _PLAIN and value == other):
            continue
        if not _same(value, other) and key not in _HIDDEN:
            mine[key] = value
    return mine


def _own(flat: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, Any]:
    """The params where ``flat`` differs from the reference (a param it lacks counts as null).
    Two deltas of one base can differ only where either differs from the base: only those
    keys are compared (the index's params; the same answer as comparing them whole)."""
    if isinstance(flat, Delta) and isinstance(reference, Delta) and flat.base is reference.base:
        keys = flat.differing_keys() | reference.differing_keys()
        flat = {k: flat[k] for k in keys if k in flat}
        reference = {k: reference[k] for k in keys if k in reference}
    mine = _differences(flat, reference)  # type: ignore[arg-type]  # flat values are JSON scalars
    mine.update(
        (key, None)
        for key in reference
        if key not in flat and reference[key] is not None and key not in _HIDDEN
    )
    return mine


def changed_columns(rows: list[ListRow]) -> list[str]:
    """Params whose values differ between the rows; each row gains ``row["changed"]``.

    One pass, each params.json read once and dropped: every row is compared with the first, and
    keeps only the values where it differs from it (a missing param counts as null). Linear in
    the rows, and memory holds no more than the differences.
    """
    with collector_paused():
        return _changed_columns(rows)


def _changed_columns(rows: list[ListRow]) -> list[str]:
    reference: Mapping[str, Any] | None = None
    own: list[dict[str, Any]] = []
    differing: set[str] = set()
    for row in rows:
        flat = _flat_for(row)
        row.pop("_flat", None)
        if reference is None:
            reference = flat
        mine = _own(flat, reference)
        differing.update(mine)
        own.append(mine)
    columns = sorted(differing)
    for row, mine in zip(rows, own, strict=True):
        row["changed"] = {
            key: mine[key] if key in mine else (reference or {}).get(key) for key in columns
        }
    return columns


#: ``--filter`` operators, longest first so ``<=`` is not read as ``<``.
FILTER_OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_FILTER_RE = re.compile(r"^\s*(?P<key>[A-Za-z0-9_.\-]+)\s*(?P<op>!=|<=|>=|=|<|>)(?P<value>.*)$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class RowFilter:
    """One ``--filter KEY OP VALUE``."""

    key: str
    op: str
    value: Any
    raw: str

    def matches(self, actual: Any) -> bool:
        if self.op in ("=", "!="):
            if isinstance(actual, list | tuple) and isinstance(self.value, list | tuple):
                equal = list(actual) == list(self.value)  # input_shape=[32,32,3]: a value
            elif isinstance(actual, list) and self.key == "tags":  # tags=baseline: holds it
                equal = self.value in actual or self.raw in actual
            else:
                equal = actual == self.value or str(actual) == self.raw
            return equal if self.op == "=" else not equal
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        return _COMPARE[self.op](actual, self.value)


def filterable_keys() -> set[str]:
    """Dotted params (their defaults' keys) and listing fields a ``--filter`` may name."""
    from abyssexp.experiment.list_rows import ROW_FIELDS
    from abyssexp.schemas.params import Params

    return set(flatten_params(Params().model_dump(mode="json"))) | set(ROW_FIELDS)


def parse_filters(filters: list[str]) -> list[RowFilter]:
    """``training.lr<1e-3`` → a ``RowFilter``; every problem is reported at once.

    Raises:
        InvalidInputError: no operator, an unknown key, or a non-number with ``< <= > >=``.
    """
    from abyssexp.literals import parse_set_value

    parsed, problems = [], []
    known: set[str] | None = None
    for item in filters:
        match = _FILTER_RE.match(item)
        if not match:
            problems.append(
                f"--filter {item!r}: expected KEY OP VALUE with OP one of "
                f"{' '.join(FILTER_OPERATORS)}, e.g. training.lr<1e-3 or status=completed"
            )
            continue
        key, op, raw = match["key"], match["op"], match["value"].strip()
        known = known if known is not None else filterable_keys()
        if key not in known and not key.startswith(
            ("augmentation.", "training.lr_schedule_params.")
        ):
            import difflib

            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see `abyssexp schema`"
            problems.append(
                f"--filter {item!r}: unknown key {key!r} ({hint}; record fields: "
                f"{', '.join(sorted(ROW_FIELDS_SHOWN))})"
            )
            continue
        value = parse_set_value(raw)
        if op in _COMPARE and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"--filter {item!r}: {op} needs a number. Received: {raw!r}")
            continue
        parsed.append(RowFilter(key, op, value, raw))
    if problems:
        raise InvalidInputError(problems[0], problems)
    return parsed


ROW_FIELDS_SHOWN = ("status", "epochs_done", "best_value", "best_metric", "tags", "note")


def filter_rows(rows: list[ListRow], filters: list[str], keep_flat: bool = False) -> list[ListRow]:
    """Keep rows where every ``KEY OP VALUE`` holds for a param (dotted) or a listing field.
    ``keep_flat``: the kept rows keep their params (``row["_flat"]``, as the index gave them or
    as read) for ``changed_columns``.

    Example: ``training.lr<1e-3``, ``model.backbone=mobilenet``, ``epochs_done>=10``.
    """
    wanted = parse_filters(filters)
    kept = []
    for row in rows:
        fields: Mapping[str, Any] = row
        flat = _flat_for(row) if any(f.key not in fields for f in wanted) else {}
        if all(f.matches(fields[f.key] if f.key in fields else flat.get(f.key)) for f in wanted):
            kept.append(row)
        if not keep_flat:
            row.pop("_flat", None)
    for row in rows:
        row.setdefault("changed", {})
    return kept

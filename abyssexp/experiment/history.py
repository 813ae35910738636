"""``logs/history.csv``, one row per epoch: its one parser.

Training appends rows (``training/callbacks.py`` rewrites the file atomically, resuming from the
rows read here), ``compare`` and its summary cache read the ``val_*`` columns, the report and the
MLflow mirror every column, and an Optuna sweep the best value of its metric: all through
``history_table``, so a blank line, a short row, a repeated column or a value that is not a
number means the same everywhere (no row, no value, the last column of that name, NaN).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from pathlib import Path

from abyssexp.errors import ExperimentStateError
from abyssexp.jsonio import read_input_bytes

#: history.csv of a long run with many columns is MBs; one past this is not read (counts as
#: unreadable, as a FIFO or a device in its place does).
MAX_HISTORY_BYTES = 256 << 20


def history_table(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of history.csv's ``text``; blank lines are no rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    return header, [row for row in reader if row]


def parse_history(text: str, wanted: Callable[[str], bool] | None = None) -> dict[str, list[float]]:
    """history.csv's text as columns of floats (NaN where a row has no value); ``wanted``: only
    the columns it accepts. Plain rows, not dicts: ``compare`` reads one per experiment."""
    header, rows = history_table(text)
    where = {  # a repeated name: the last
        key: index for index, key in enumerate(header) if key and (wanted is None or wanted(key))
    }
    return {key: [_number(row, index) for row in rows] for key, index in where.items()}


def _number(row: list[str], index: int) -> float:
    try:
        return float(row[index] or "nan") if index < len(row) else math.nan
    except ValueError:
        return math.nan


def _text(path: Path) -> str:
    """The file's text, bounded (``jsonio.read_input_bytes``).

    Raises:
        ExperimentStateError: missing, not a regular file, too big or not UTF-8 (one line).
    """
    raw = read_input_bytes(path, str(path), ExperimentStateError, MAX_HISTORY_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExperimentStateError(f"{path}: not UTF-8 text; check how it was made") from None


def read_history_columns(
    path: Path, wanted: Callable[[str], bool] | None = None
) -> dict[str, list[float]]:
    """logs/history.csv as columns of floats (``parse_history``); empty when unreadable."""
    try:
        return parse_history(_text(path), wanted)
    except (ExperimentStateError, csv.Error):
        return {}


def read_history_rows(path: Path) -> list[dict[str, str]]:
    """logs/history.csv as one dict of text per epoch (what training rewrites when it resumes);
    empty when there is none. A short row's missing values are empty.

    Raises:
        ExperimentStateError: it exists but cannot be read (training would otherwise rewrite it
            with the new epochs only), or a row's ``epoch`` is not an epoch number (which rows
            come before the resumed epoch would be unknown).
    """
    from abyssexp.schemas.params import MAX_EPOCHS  # pydantic: not for `list`'s readers

    if not os.path.lexists(path):
        return []
    last = 2 * MAX_EPOCHS  # training.init_epoch + training.epochs, each at most MAX_EPOCHS
    header, rows = history_table(_text(path))
    found = [{key: row[i] if i < len(row) else "" for i, key in enumerate(header)} for row in rows]
    for number, row in enumerate(found, start=1):
        epoch = row.get("epoch", "")
        if not (epoch.isascii() and epoch.isdigit() and 0 < int(epoch) <= last):
            raise ExperimentStateError(
                f"{path}: row {number}: epoch {epoch!r} is not an epoch number (1 to {last}), "
                f"so the epochs before the resume are unknown; mend the row or start a new "
                f"experiment with `abyssexp new ... --from {path.parent.parent}`"
            )
    return found


def best_in_history(path: Path, metric: str, lower_is_better: bool) -> float | None:
    """The best finite value of ``metric`` over the epochs; None when it was never logged."""
    values = [
        v
        for v in read_history_columns(path, lambda key: key == metric).get(metric, [])
        if math.isfinite(v)
    ]
    if not values:
        return None
    return min(values) if lower_is_better else max(values)

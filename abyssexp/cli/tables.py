"""Tables that fit the terminal and never break an experiment name or a path.

A table's *key* column (the experiment, the model, the path) is never wrapped or cut. Columns are
dropped, least important first, until the table fits; when even the essential columns do not fit
beside the key, each row becomes a block: the key on its own line, whole, and the other cells on
an indented line below. ``--wide`` keeps every column at its natural width, however wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from abyssexp.cli.console import out


@dataclass(frozen=True)
class Column:
    """A column: its header, and the priority with which it is kept (0: always, then 1, 2...;
    the highest number is dropped first). ``key`` marks the column that is never cut."""

    header: str
    priority: int = 0
    key: bool = False
    justify: str = "left"


def _cell_width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.splitlines() or [""]), default=0)


def _natural(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(c.header), *(_cell_width(r[i]) for r in rows)]) for i, c in enumerate(columns)]


def _table_width(widths: Sequence[int]) -> int:
    return sum(widths) + 3 * len(widths) + 1  # padding of one on each side, and the rules


def choose_columns(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
) -> list[int] | None:
    """Indexes of the columns to show at ``width``, or None when only a block layout fits."""
    natural = _natural(columns, rows)
    shown = list(range(len(columns)))
    for priority in sorted({c.priority for c in columns if c.priority > 0}, reverse=True):
        if _table_width([natural[i] for i in shown]) <= width:
            break
        shown = [i for i in shown if columns[i].priority != priority]
    if _table_width([natural[i] for i in shown]) <= width:
        return shown
    return None


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
    wide: bool = False,
) -> None:
    """Print ``rows`` as a table that fits ``out.width`` (every column with ``wide``)."""
    natural = _natural(columns, rows)
    if wide:
        shown = list(range(len(columns)))
        width = max(out.width, _table_width(natural))
    else:
        width = out.width
        chosen = choose_columns(columns, rows, width)
        if chosen is None:
            _print_blocks(columns, rows, title)
            return
        shown = chosen
    table = Table(title=title, expand=False)
    for i in shown:
        column = columns[i]
        table.add_column(
            column.header,
            no_wrap=True,
            min_width=natural[i] if column.key else None,
            justify=column.justify,  # type: ignore[arg-type]
        )
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    saved = out.width
    out.width = width  # Console.print never renders wider than the console
    try:
        out.print(table, crop=False)
    finally:
        out.width = saved


def _print_blocks(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None
) -> None:
    """The narrow layout: the key whole on its own line, the essential cells indented below."""
    if title:
        out.print(Text(title, style="italic"), soft_wrap=True)
    key = next((i for i, c in enumerate(columns) if c.key), 0)
    essential = [i for i, c in enumerate(columns) if i != key and c.priority <= 1]
    for row in rows:
        out.print(Text.from_markup(row[key], style="bold"), soft_wrap=True)
        details = "  ".join(f"{columns[i].header}: {row[i]}" for i in essential)
        out.print(f"  {details}", soft_wrap=True)


def print_fields(title: str, fields: Sequence[tuple[str, Any]]) -> None:
    """A two-column summary (field, value); values are printed whole, on one line each."""
    rows = [(name, str(value)) for name, value in fields]
    if _table_width(_natural([Column("f"), Column("v")], rows)) <= out.width:
        table = Table(title=title, show_header=False)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        for name, value in rows:
            table.add_row(name, value)
        out.print(table, crop=False)
        return
    out.print(Text(title, style="italic"), soft_wrap=True)
    pad = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.print(Text(f"{name:<{pad}}  {value}"), soft_wrap=True)

"""Every table abyssexp prints, drawn by one policy (``docs/output.md``).

At a width W (``COLUMNS``, else the terminal's):

1. **The key column** (the experiment, the model, the path) is never wrapped or cut.
2. A one-line table keeps the key and every column of priority 0-2 (0: the row's identity and
   state, 1: the metrics people sort by, 2: the rest worth reading); it drops columns of
   priority 3 and up, highest first, until it fits.
3. When the kept columns do not fit beside the key, the table **folds**: each row's key on its
   own line, whole, and its other cells aligned on an indented line below, dropping columns
   from the highest priority until that line fits.
4. When even that does not fit, each row becomes the key and ``header: value`` pairs, each pair
   whole, wrapped between pairs.
5. Dropped columns are named once, below: ``N columns hidden (...): --wide / --csv / --json``.

``--wide`` keeps every column at its natural width, however wide; so does a pipe (no terminal
and no ``COLUMNS``): a table there is as wide as its content. A cell is one unit (a metric with
its interval and ``n=``, a path): it is never wrapped, cut or re-spaced.

Cells are plain text, or ``(text, style)`` for colour (a Rich style, used on a terminal only).
The table is drawn here, line by line, rather than by ``rich.table``: cells never wrap, so the
layout is simple, and ``list`` draws 5,000 rows in milliseconds instead of seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich.cells import cell_len as _rich_cell_len
from rich.color import ColorSystem
from rich.style import Style

from abyssexp.cli.console import out, unbounded
from abyssexp.errors import printable

Cell = str | tuple[str, str]


@dataclass(frozen=True)
class Column:
    """A column: its header, and the priority with which it is kept (0: always, then 1, 2...;
    the highest number is dropped first). ``key`` marks the column that is never cut."""

    header: str
    priority: int = 0
    key: bool = False
    justify: str = "left"


def cell_len(text: str) -> int:
    """Columns ``text`` takes on a terminal: its length when it is printable ASCII (nearly
    every cell; rich's general count costs more than the rest of a 20,000-row table)."""
    return len(text) if text.isascii() and text.isprintable() else _rich_cell_len(text)


def _text(cell: Cell) -> str:
    """The cell's text, control characters (ESC, BEL... from a value read from a file) shown
    as ``?`` so no cell can drive the terminal (``errors.printable``)."""
    text = cell if isinstance(cell, str) else cell[0]
    return text if text.isprintable() else printable(text)


def _natural(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[int]:
    return _measure(columns, rows)[0]


def _measure(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]]
) -> tuple[list[int], list[bool]]:
    """Each column's widest cell (or header), and whether all its cells are printable ASCII
    (then ``len`` is their width and ``str.ljust`` pads them). A column at a time, in one pass
    of ``len`` when it is plain (nearly always): ``list`` measures 20,000 rows."""
    widths = [cell_len(c.header) for c in columns]
    plain = [False] * len(columns)
    if any(len(row) != len(columns) for row in rows):
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], cell_len(_text(cell)))
        return widths, plain
    for i, cells in enumerate(zip(*rows, strict=True)):
        texts = [cell if isinstance(cell, str) else cell[0] for cell in cells]
        joined = "".join(texts)
        plain[i] = joined.isascii() and joined.isprintable()
        if not plain[i]:  # control characters are shown as ``?``: measure what is shown
            texts = [_text(text) for text in texts]
        measure = len if plain[i] else cell_len
        widths[i] = max(widths[i], max(map(measure, texts), default=0))
    return widths, plain


def _table_width(widths: Sequence[int]) -> int:
    return sum(widths) + 3 * len(widths) + 1  # padding of one on each side, and the rules


#: Columns of this priority and above may be dropped from a one-line table.
DROPPABLE = 3


@dataclass(frozen=True)
class Layout:
    """How a table is drawn at a width: ``table`` (one line per row), ``folded`` (the key on
    its own line, the cells below) or ``pairs``; which columns show and which are hidden."""

    kind: str
    shown: list[int]
    hidden: list[int]


def _drop_until(
    columns: Sequence[Column], candidates: list[int], fits: Any, floor: int
) -> tuple[list[int], bool]:
    """Drop ``candidates`` of priority >= ``floor``, highest priority first (the rightmost of
    equals first), until ``fits(shown)``; returns the columns kept and whether they fit."""
    shown = list(candidates)
    while not fits(shown):
        droppable = [i for i in shown if columns[i].priority >= floor and not columns[i].key]
        if not droppable:
            return shown, False
        worst = max(droppable, key=lambda i: (columns[i].priority, i))
        shown.remove(worst)
    return shown, True


def plan_layout(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> Layout:
    """The layout of ``rows`` at ``width`` (the module docstring's policy)."""
    natural = _natural(columns, rows)
    everything = list(range(len(columns)))
    key = next((i for i, c in enumerate(columns) if c.key), 0)

    def table_fits(shown: list[int]) -> bool:
        return _table_width([natural[i] for i in shown]) <= width

    shown, fits = _drop_until(columns, everything, table_fits, DROPPABLE)
    if fits:
        return Layout("table", shown, [i for i in everything if i not in shown])

    def folded_fits(shown: list[int]) -> bool:
        cells = [natural[i] for i in shown if i != key]
        return 2 + sum(cells) + 2 * max(len(cells) - 1, 0) <= width

    shown, fits = _drop_until(columns, everything, folded_fits, 1)
    if not fits:  # pairs wrap between pairs, so every column has room
        return Layout("pairs", everything, [])
    return Layout("folded", shown, [i for i in everything if i not in shown])


def choose_columns(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int
) -> list[int] | None:
    """Indexes of the columns of a one-line table at ``width``, or None when it folds."""
    layout = plan_layout(columns, rows, width)
    return layout.shown if layout.kind == "table" else None


_SYSTEMS = {
    "standard": ColorSystem.STANDARD,
    "256": ColorSystem.EIGHT_BIT,
    "truecolor": ColorSystem.TRUECOLOR,
    "windows": ColorSystem.WINDOWS,
}


class _Painter:
    """Rich styles as ANSI sequences on a colour terminal; plain text otherwise."""

    def __init__(self) -> None:
        self.system = out.color_system if out.is_terminal and not out.no_color else None
        self.cache: dict[str, Style] = {}

    def __call__(self, text: str, style: str) -> str:
        if not self.system or not style:
            return text
        parsed = self.cache.get(style) or self.cache.setdefault(style, Style.parse(style))
        return parsed.render(text, color_system=_SYSTEMS.get(self.system))


def _pad(text: str, width: int, justify: str) -> str:
    gap = width - cell_len(text)
    return (" " * gap + text) if justify == "right" else (text + " " * gap)


def _padder(plain: bool, justify: str) -> Any:
    """``_pad`` for one column: ``str.ljust``/``rjust`` when its cells are printable ASCII."""
    if plain:
        return str.rjust if justify == "right" else str.ljust
    return lambda text, width: _pad(text, width, justify)


def _lines(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    shown: list[int],
    title: str | None,
    header: bool = True,
) -> list[str]:
    natural, plain = _measure(columns, rows)
    widths = [natural[i] for i in shown]
    paint = _Painter()
    total = _table_width(widths)
    lines = []
    if title:
        lines.append(paint(title.center(total).rstrip(), "italic"))
    if header:
        names = " ┃ ".join(
            paint(_pad(columns[i].header, w, columns[i].justify), "bold")
            for i, w in zip(shown, widths, strict=True)
        )
        lines.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
        lines.append(f"┃ {names} ┃")
        lines.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    else:
        lines.append("┌" + "┬".join("─" * (w + 2) for w in widths) + "┐")
    padded = [
        _column_cells(rows, i, w, plain[i], columns[i].justify, paint)
        for i, w in zip(shown, widths, strict=True)
    ]
    lines.extend("│ " + " │ ".join(cells) + " │" for cells in zip(*padded, strict=True))
    lines.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return lines


def _column_cells(
    rows: Sequence[Sequence[Cell]], index: int, width: int, plain: bool, justify: str, paint: Any
) -> list[str]:
    """One column's cells padded to ``width`` and painted: a column at a time, so a column of
    plain strings (nearly every one) is padded by ``str.ljust`` in one ``map``."""
    pad = _padder(plain, justify)
    cells = [row[index] for row in rows]
    if plain and all(type(cell) is str for cell in cells):
        return list(map(pad, cells, [width] * len(cells)))
    padded = []
    for cell in cells:
        text = cell if isinstance(cell, str) else cell[0]
        text = pad(text if plain else _text(text), width)
        padded.append(text if isinstance(cell, str) else paint(text, cell[1]))
    return padded


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    title: str | None = None,
    wide: bool = False,
) -> None:
    """Print ``rows`` by the module's policy at ``out.width`` (every column with ``wide`` or
    in a pipe)."""
    columns = [replace(c, header=_text(c.header)) for c in columns]
    if wide or unbounded():
        _write(_lines(columns, rows, list(range(len(columns))), title))
        return
    width = out.width
    layout = plan_layout(columns, rows, width)
    heading: list[str] = []
    if title and (layout.kind != "table" or cell_len(title) > width):
        paint = _Painter()
        heading = [paint(line, "italic") for line in _wrapped(title, width, 2)]
        title = None
    if layout.kind == "table":
        lines = _lines(columns, rows, layout.shown, title)
    elif layout.kind == "folded":
        lines = _folded(columns, rows, layout.shown)
    else:
        lines = _pairs(columns, rows, layout.shown, width)
    lines = heading + lines
    if layout.hidden:
        lines.append(hidden_line([columns[i].header for i in layout.hidden]))
    _write(lines)


def hidden_line(headers: Sequence[str]) -> str:
    """``2 columns hidden (created, disk): --wide / --csv / --json``."""
    count = len(headers)
    noun = "column" if count == 1 else "columns"
    return f"{count} {noun} hidden ({', '.join(headers)}): --wide / --csv / --json"


def _write(lines: list[str]) -> None:
    """Lines as they are: never wrapped, cropped or re-parsed for markup."""
    out.file.write("\n".join(lines) + "\n")
    out.file.flush()


def _folded(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], shown: list[int]
) -> list[str]:
    """The key whole on its own line; the other cells aligned on an indented line below."""
    paint = _Painter()
    key = next((i for i, c in enumerate(columns) if c.key), 0)
    rest = [i for i in shown if i != key]
    natural = _natural(columns, rows)
    widths = {i: natural[i] for i in rest}

    def line(cells: list[str]) -> str:
        return ("  " + "  ".join(cells)).rstrip()

    lines = [paint(columns[key].header, "bold")]
    header = [paint(_pad(columns[i].header, widths[i], columns[i].justify), "bold") for i in rest]
    lines.append(line(header))
    lines.append("─" * (2 + sum(widths.values()) + 2 * max(len(rest) - 1, 0)))
    for row in rows:
        lines.append(paint(_text(row[key]), "bold"))
        cells = []
        for i in rest:
            text = _pad(_text(row[i]), widths[i], columns[i].justify)
            cells.append(paint(text, row[i][1]) if isinstance(row[i], tuple) else text)
        lines.append(line(cells))
    return lines


def _pairs(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    shown: list[int],
    width: int,
) -> list[str]:
    """The narrowest layout: the key whole, then ``header: value`` pairs, wrapped between
    pairs (never inside one)."""
    paint = _Painter()
    key = next((i for i, c in enumerate(columns) if c.key), 0)
    lines: list[str] = []
    for row in rows:
        lines.append(paint(_text(row[key]), "bold"))
        current, length = "", 0
        for i in shown:
            if i == key:
                continue
            text = f"{columns[i].header}: {_text(row[i])}"
            painted = paint(text, row[i][1]) if isinstance(row[i], tuple) else text
            size = cell_len(text)
            if length and length + 2 + size > width:
                lines.append(current)
                current, length = "", 0
            current += "  " + painted
            length += 2 + size
        if current:
            lines.append(current)
    return lines


def print_fields(title: str, fields: Sequence[tuple[str, Any]]) -> None:
    """A two-column summary (field, value); values are printed whole, on one line each. A
    value that is a list prints one line per item (the field named on the first)."""
    rows: list[tuple[str, str]] = []
    for name, value in fields:
        items = value if isinstance(value, list | tuple) else [value]
        rows += [(name if n == 0 else "", _text(str(item))) for n, item in enumerate(items)]
    if not rows:
        return
    columns = [Column("field"), Column("value", key=True)]
    if unbounded() or _table_width(_natural(columns, rows)) <= out.width:
        _write(_lines(columns, rows, [0, 1], title, header=False))
        return
    pad = max(cell_len(name) for name, _ in rows)
    lines = [title]
    for name, value in rows:
        lines += _wrapped(f"{name:<{pad}}  {value}".rstrip(), out.width, pad + 2)
    _write(lines)


def _wrapped(line: str, width: int, indent: int) -> list[str]:
    """``line`` folded at spaces to ``width``, continuation lines indented; a word (a path, a
    number with its interval) longer than the width stays whole on its own line."""
    import textwrap

    if cell_len(line) <= width:
        return [line]
    return textwrap.wrap(
        line,
        width=width,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )

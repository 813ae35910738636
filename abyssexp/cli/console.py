"""The one UI facade: Rich consoles for results (stdout) and diagnostics (stderr)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape

from abyssexp.errors import printable

# soft_wrap: a plain line (a path, a message) is never folded; tables fit themselves.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


_WIDTH = {"given": False}


def fit_to_environment() -> None:
    """Read the width again for this command: ``COLUMNS`` when set, else the terminal's (80 for a
    pipe). The consoles outlive one command in tests and in the library."""
    columns = os.environ.get("COLUMNS", "")
    _WIDTH["given"] = columns.isdigit()
    for console in (out, err):
        console.width = int(columns) if columns.isdigit() else None  # type: ignore[assignment]  # None: measure again


def unbounded() -> bool:
    """Output goes to a pipe or a file and nobody set ``COLUMNS``: no width to fit, so a table
    is as wide as its content and a line as long as it is (``docs/output.md``)."""
    return not _WIDTH["given"] and not out.is_terminal


def print_line(text: str) -> None:
    """One line of plain text on stdout, never wrapped or cut (paths stay whole; a terminal
    wraps a long line itself). Printable ASCII without ``:`` (which Rich would read for emoji
    codes) is written as it is: the same bytes, without Rich's rendering of every character
    (``compare`` prints 20,000 index lines)."""
    if text.isascii() and ":" not in text and text.replace("\n", "").isprintable():
        out.file.write(text + "\n")
        out.file.flush()
        return
    # A value read from a file (a param, a name) may hold ESC or BEL: shown as ``?``.
    out.print(printable(text), soft_wrap=True, markup=False, highlight=False)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour, no wrapping) for scripts; written as it is encoded, so
    20,000 experiments never sit in memory twice (as data and as one text)."""
    import sys

    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def error_line(message: str) -> None:
    """``error: <message>`` on stderr; the message is text, never markup (``abyssexp[s3]``)."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)


def human_bytes(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


@contextmanager
def progress_bar(
    label: str, quiet: bool = False, transfer: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """A transient Rich bar on stderr; yields the ``(done, total)`` callback the core reports to.

    ``transfer`` shows bytes and speed (copies) instead of a count and time remaining.
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        (DownloadColumn(), TransferSpeedColumn())
        if transfer
        else (MofNCompleteColumn(), TimeRemainingColumn())
    )
    with Progress(
        label,
        BarColumn(),
        *columns,
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,  # a pipe or a log file gets no bar
    ) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)

"""One exception root for abyssexp.

The CLI boundary (``abyssexp.cli.app``) maps these to exit codes in one place: user-input
validation problems exit 2, every other ``AbyssExpError`` exits 1. Messages name the problem, the
file or field, the value received and what to do next, because they are the only line a user sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class AbyssExpError(Exception):
    """Root of every error abyssexp raises on purpose."""

    exit_code: int = 1


class InvalidInputError(AbyssExpError):
    """Bad user input: a name, a ``--set`` value, a params field, a CLI literal.

    ``problems`` holds one line per problem so the CLI can print them all at once.
    """

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class ExperimentNotFoundError(AbyssExpError):
    """An experiment reference matched nothing, or more than one experiment."""


class DatasetError(AbyssExpError):
    """A COCO file, category map or image cannot be used."""


class TrainingDivergedError(AbyssExpError):
    """The training loss became NaN or infinite: the run is marked failed, its finished epochs
    kept (the diverging epoch is not recorded)."""


class ExperimentStateError(AbyssExpError):
    """The experiment is in the wrong state for the command (running, no checkpoint, ...)."""


class StoreError(AbyssExpError):
    """Promotion to, or verification of, the permanent store failed."""


class BlockingCaveatsError(StoreError):
    """``promote`` or ``alias set`` refused: a result has caveats nobody accepted. ``problems``
    holds one line per caveat and the ``--accept`` flag that would accept them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems


class OptionalDependencyError(AbyssExpError):
    """An optional backend (imgaug, ImageNet weights) is not available here."""


def first_few(values: Iterable[object], shown: int = 5, width: int | None = 40) -> str:
    """The first ``shown`` values for a message, then how many were left out.

    Messages stay one short line whatever the input holds: each value is cut to ``width``
    characters (``None``: never cut, for file names a user must find), and a list of ten million
    ids reads ``1, 2, 3, 4, 5 ... and 9999995 more``.

    Example:
        >>> first_few(range(1, 11))
        '1, 2, 3, 4, 5 ... and 5 more'
    """
    items = values if isinstance(values, Sequence) else list(values)
    parts = []
    for value in items[:shown]:
        text = str(value)
        parts.append(text if width is None or len(text) <= width else text[: width - 3] + "...")
    left = len(items) - shown
    return ", ".join(parts) + (f" ... and {left} more" if left > 0 else "")


def shorten(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters for a message (the user already has the rest)."""
    return text if len(text) <= width else f"{text[: width - 3]}... ({len(text)} characters)"


_CONTROL = {code: "?" for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if code != 0x0A}


def printable(text: str) -> str:
    """``text`` with control characters (terminal escape sequences: ESC, CSI, BEL...) shown as
    ``?``, so a note or name read from a file can never drive the terminal it is printed on.

    Example:
        >>> printable("ok\x1b]0;pwned\x07")
        'ok?]0;pwned?'
    """
    return text.translate(_CONTROL)

"""The one way abyssexp reads back a JSON file it wrote: bounded, parsed, then validated.

Every file abyssexp writes has a schema in ``schemas/`` and one reader, built on ``read_file``
here: the read is bounded (``jsonio``: no ``/dev/zero``, no FIFO, no 40 GB file, no JSON nested
thousands deep), and what parsed is validated before anyone uses it (STYLE.md 17, 18: a value
read from a file is a claim). A reader that must never stop a listing uses ``load_file``, which
says None instead of raising.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from abyssexp.errors import AbyssExpError
from abyssexp.jsonio import read_json

T = TypeVar("T")


class FileUnreadableError(AbyssExpError):
    """A file abyssexp wrote does not read back: missing, too big, not JSON, or not its shape."""


def validation_line(exc: ValidationError) -> str:
    """The first problem of ``exc`` as one ``field a.b: message (got x)`` line."""
    problem = exc.errors()[0]
    field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
    return f"field {field}: {problem['msg']} (got {problem.get('input')!r:.60})"


def read_file(
    path: Path,
    adapter: TypeAdapter[T],
    limit: int,
    error: type[AbyssExpError] = FileUnreadableError,
    fix: str = "rewrite it with the command that made it",
) -> T:
    """The content of ``path`` validated by ``adapter``.

    Args:
        path: the file.
        adapter: its schema.
        limit: the most bytes the file may hold (a larger one was not written as it is).
        error: the error class raised.
        fix: what the message tells the user to do when the content is not the schema's.

    Raises:
        error: one line naming the file and the problem.
    """
    data = read_json(Path(path), str(path), error, limit=limit, fix=fix)
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise error(f"{path}: {validation_line(exc)}; {fix}") from None


def load_file(path: Path, adapter: TypeAdapter[T], limit: int) -> T | None:
    """``read_file``, or None when the file is missing or does not read back (listings and
    summaries treat such a file as absent, as they always did)."""
    try:
        return read_file(path, adapter, limit)
    except FileUnreadableError:
        return None

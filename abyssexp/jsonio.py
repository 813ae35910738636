"""The one way abyssexp reads a JSON file a user gave it (COCO files, params, category maps).

``json.loads`` raises ``RecursionError`` on ``[[[[...`` nested deeper than the interpreter's
recursion limit, and files that load may still be nested deep enough to break code that walks
them (copying, validating, writing them back). Every failure here is one line naming the file and
the fix, raised as the caller's error class.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from abyssexp.errors import AbyssExpError

#: No file abyssexp reads needs more: a COCO polygon is 5 levels deep, params 4.
MAX_DEPTH = 64
#: The largest input file read whole (a COCO file of millions of annotations fits): larger ones,
#: and anything that is not a regular file (``/dev/zero``, a FIFO), are refused before reading.
MAX_INPUT_BYTES = 4 << 30
#: The bound of the small JSON files abyssexp writes and reads back (params.json, caches): the
#: largest real one is a params.json with an inline category map of 100,000s of categories (a few
#: MB). A file past it was not written by abyssexp as it is, and parsing it could take GBs.
MAX_SMALL_JSON_BYTES = 16 << 20
#: What one read adds while a file grows under the reader (see ``_read_bounded``).
READ_CHUNK = 1 << 20


class RefusedFileError(OSError):
    """Not a regular file within its bound: ``problem`` says which (``open_regular``)."""

    def __init__(self, problem: str, too_big: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.too_big = too_big


def open_regular(
    path: Path | str, limit: int, *, follow: bool = True
) -> tuple[int, os.stat_result]:
    """Open a regular file of at most ``limit`` bytes for reading: the one check behind every
    file abyssexp reads back (inputs, its own files and caches). Returns the descriptor (the
    caller closes it) and its ``fstat``.

    Opened without blocking (a FIFO would wait for a writer for ever) and checked with ``fstat``
    on the open descriptor, so what is checked is what is read; ``follow=False`` refuses a
    symlink itself (a cache planted as a link to ``/dev/zero``).

    Raises:
        FileNotFoundError: missing.
        RefusedFileError: a folder, a device, FIFO or socket, or larger than ``limit``.
        OSError: cannot be opened (``ELOOP``: a symlink with ``follow=False``).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise RefusedFileError("is a folder, not a file") from None
    info = os.fstat(fd)
    problem = (
        RefusedFileError("is a folder, not a file")
        if stat.S_ISDIR(info.st_mode)
        else RefusedFileError("not a regular file (a device, FIFO or socket); give a file")
        if not stat.S_ISREG(info.st_mode)
        else RefusedFileError(
            f"{info.st_size} bytes, more than the {limit} abyssexp reads", too_big=True
        )
        if info.st_size > limit
        else None
    )
    if problem:
        os.close(fd)
        raise problem
    return fd, info


def read_input_bytes(
    path: Path | str,
    source: str,
    error: type[AbyssExpError],
    limit: int = MAX_INPUT_BYTES,
    fix: str = "split the file",
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (``open_regular``); anything else
    is one ``error`` line (``fix`` says what to do about a file over the limit)."""
    try:
        fd, info = open_regular(path, limit)
    except FileNotFoundError:
        raise error(f"{source}: file not found") from None
    except RefusedFileError as exc:
        raise error(f"{source}: {exc.problem}" + (f"; {fix}" if exc.too_big else "")) from None
    except OSError as exc:
        raise error(f"{source}: cannot read the file ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = _read_bounded(handle, info.st_size, limit)
        except OSError as exc:
            raise error(f"{source}: cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise error(f"{source}: grew past {limit} bytes while being read")
    return raw


def read_cache_bytes(path: Path | str, limit: int) -> tuple[os.stat_result, bytes] | None:
    """A cache file's ``fstat`` and bytes; None when it is missing, a symlink (never followed),
    not a regular file, larger than ``limit`` or unreadable: a cache is a claim, and the caller
    rebuilds it from its sources rather than trust or report it."""
    try:
        fd, info = open_regular(path, limit, follow=False)
    except OSError:
        return None
    try:  # os.read, not a file object: compare reads one cache per experiment
        chunks, total, want = [], 0, info.st_size + 1
        while total <= limit and (chunk := os.read(fd, want)):
            chunks.append(chunk)
            total += len(chunk)
            want = READ_CHUNK
    except OSError:
        return None
    finally:
        os.close(fd)
    return (info, b"".join(chunks)) if total <= limit else None


def _read_bounded(handle: BinaryIO, size: int, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``handle``, allocating only what the file holds.

    ``read(limit + 1)`` would reserve ``limit`` bytes of address space up front (4 GiB), which a
    shell's ``ulimit -v`` (common on shared clusters) refuses even for a 1 KB file: read the size
    ``fstat`` gave, then in chunks while the file grows.
    """
    raw = handle.read(min(size, limit) + 1)
    while len(raw) <= limit:
        more = handle.read(min(READ_CHUNK, limit + 1 - len(raw)))
        if not more:
            break
        raw += more
    return raw


def parse_json(
    raw: str | bytes,
    source: str,
    error: type[AbyssExpError],
    hint: str = "",
    max_depth: int | None = MAX_DEPTH,
) -> Any:
    """Parse JSON text; raise ``error`` with one line for bad syntax or too deep nesting.

    Args:
        raw: the file's contents.
        source: how messages name it (``"category map data/map.json"``).
        error: the ``AbyssExpError`` subclass to raise.
        hint: appended to the syntax-error message, e.g. ``"; is the file truncated?"``.
        max_depth: refuse containers nested deeper than this (``None``: only what ``json`` can
            parse); checked without recursion.
    """
    try:
        data = json.loads(raw)
    except RecursionError:
        raise error(
            f"{source}: JSON nested too deeply to read (lists or objects inside each other "
            "hundreds of levels deep); check how the file was made"
        ) from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}){hint}"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        # Not UTF-8, or an integer with more digits than Python converts.
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "a number too long"
        raise error(f"{source}: not valid JSON ({reason}){hint}") from None
    if max_depth is not None and json_depth(data, max_depth) > max_depth:
        raise error(
            f"{source}: JSON nested more than {max_depth} levels deep; no abyssexp file needs "
            "that, check how the file was made"
        )
    return data


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (``X`` and ``./X``, a hard link, a symlink to it)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def refuse_same_files(inputs: list[tuple[str, Path]], error: type[AbyssExpError]) -> None:
    """Raise ``error`` when two of the named paths are one file (an output over an input, or
    one file compared with itself)."""
    for index, (name, path) in enumerate(inputs):
        for other_name, other in inputs[index + 1 :]:
            if same_file(path, other):
                raise error(
                    f"{name} {path} and {other_name} {other} are the same file; give "
                    "different files"
                )


def read_json(
    path: Path,
    source: str,
    error: type[AbyssExpError],
    hint: str = "",
    max_depth: int | None = MAX_DEPTH,
    limit: int = MAX_INPUT_BYTES,
    fix: str = "split the file",
) -> Any:
    """Read and parse a JSON file; a missing, unreadable, non-regular or oversized file is one
    ``error`` line too (``read_input_bytes``)."""
    raw = read_input_bytes(Path(path), source, error, limit, fix)
    return parse_json(raw, source, error, hint, max_depth)


def json_depth(data: Any, stop_after: int | None = None) -> int:
    """How deeply lists and dicts nest in ``data`` (a scalar is 0), walked without recursion.

    With ``stop_after``, returns as soon as the depth exceeds it, so a deep but huge document
    costs no more than needed.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if stop_after is not None and deepest > stop_after:
                return deepest
        stack.extend((child, depth) for child in children if isinstance(child, dict | list | tuple))
    return deepest

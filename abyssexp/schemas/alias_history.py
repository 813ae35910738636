"""The schema of a store's alias history (``alias-history.jsonl`` in a folder store, one
``.alias-history/<time>.jsonl`` object per change in an object store): one JSON object a line,
each an alias move, and its one parser for both backends.

Every field is kept as written (``from`` and ``to`` are ``null`` when the alias was created or
removed); a line that is not an object is refused with its number, so the history a person
audits is never silently shortened.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

# "from" is a keyword: the functional form, configured by ``with_config``.
AliasMove = with_config(ConfigDict(extra="allow"))(
    TypedDict(  # type: ignore[operator]  # the functional form ("from" is a keyword)
        "AliasMove",
        {
            "time": NotRequired[Annotated[str, Field(description="When (UTC, ISO 8601).")]],
            "location": NotRequired[Annotated[str, Field(description="PROJECT/TYPE.")]],
            "alias": NotRequired[str],
            "from": NotRequired[Annotated[str | None, Field(description="The model before.")]],
            "to": NotRequired[Annotated[str | None, Field(description="The model after.")]],
            "user": NotRequired[str | None],
            "host": NotRequired[str | None],
            "via": NotRequired[Annotated[str, Field(description="promote, alias set, repair...")]],
        },
    )
)
MOVE_ADAPTER: TypeAdapter[Any] = TypeAdapter(AliasMove)


def parse_moves(text: str, where: str, fix: str, torn_last: bool = False) -> list[dict[str, Any]]:
    """The moves in ``text``, oldest first.

    Args:
        text: the lines.
        where: how a message names the file or object.
        fix: what a message says to do about a line that does not parse.
        torn_last: skip a last line that does not parse (a kill mid-append leaves one).

    Raises:
        ValueError: ``where:LINE: does not parse; fix`` (the caller raises its error with it).
    """
    lines = text.splitlines()
    moves = []
    for number, line in enumerate(lines, 1):
        try:
            moves.append(MOVE_ADAPTER.validate_json(line))
        except (ValidationError, ValueError, RecursionError):
            if torn_last and number == len(lines):
                break
            raise ValueError(f"{where}:{number}: does not parse; {fix}") from None
    return moves

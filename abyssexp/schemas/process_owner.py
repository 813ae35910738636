"""The schema of an owner file: who made a promotion's temporary folder
(``.tmp-<name>-<random>.owner.json``) or holds an object store claim (``.claim-<name>.json``),
read back to tell a live owner from a killed one (``processes.owner_state``).

``host`` and ``pid`` are what every reader relies on; ``process_start`` was added later (text in
a claim, a number in an owner file) and unknown keys are kept, so every owner file reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from abyssexp.schemas.files import load_file

#: An owner file is a few lines; one larger was not written by abyssexp.
MAX_OWNER_BYTES = 1 << 16


@with_config(ConfigDict(extra="allow"))
class ProcessOwner(TypedDict):
    host: Annotated[str, Field(description="The host that ran the process.")]
    pid: Annotated[int, Field(description="Its pid on that host.")]
    started: NotRequired[Annotated[str | None, Field(description="When (UTC, ISO 8601).")]]
    process_start: NotRequired[
        Annotated[int | str | None, Field(description="Its start time (clock ticks, /proc).")]
    ]
    id: NotRequired[Annotated[str, Field(description="A claim's own id.")]]


OWNER_ADAPTER: TypeAdapter[ProcessOwner] = TypeAdapter(ProcessOwner)


def load_owner(path: Path) -> ProcessOwner | None:
    """An owner file, or None when it is missing or not its shape."""
    return load_file(path, OWNER_ADAPTER, MAX_OWNER_BYTES)


def parse_owner(raw: bytes) -> ProcessOwner | None:
    """The owner in ``raw`` (a claim object's body), or None."""
    if len(raw) > MAX_OWNER_BYTES:
        return None
    try:
        return OWNER_ADAPTER.validate_json(raw)
    except (ValidationError, ValueError, RecursionError):
        return None

"""The schema of a promoted model's ``entry.json`` (and so of a ``registry.json`` row, which is
the entry plus ``path``) and its one parser, used by the folder and the object store alike.

``project``, ``type`` and ``name`` are what every reader relies on; the other fields have their
types when present (a listing treats a missing one as unknown). Unknown keys are kept: entries
written by any earlier abyssexp read, and ``store repair`` copies an entry into its row whole.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from abyssexp.jsonio import MAX_DEPTH, MAX_SMALL_JSON_BYTES, json_depth
from abyssexp.schemas.files import validation_line

ENTRY_VERSION = 1
#: An entry is a few kilobytes (its tests and caveats); one larger was not written by abyssexp.
MAX_ENTRY_BYTES = MAX_SMALL_JSON_BYTES


class PromotionFields(TypedDict):
    """What an entry and its registry row (``schemas/registry.py``) share, each optional."""

    entry_version: NotRequired[int]
    checkpoint: NotRequired[str | None]
    scratch_path: NotRequired[str | None]
    promoted: NotRequired[str | None]
    promoted_unix: NotRequired[float | None]
    host: NotRequired[str | None]
    caveats: NotRequired[dict[str, Any] | None]
    accepted_caveats: NotRequired[Any]
    bytes: NotRequired[int | None]
    aliases_at_promotion: NotRequired[list[str] | None]


@with_config(ConfigDict(extra="allow"))
class StoreEntry(PromotionFields):
    project: Annotated[str, Field(description="The experiment's project.")]
    type: Annotated[str, Field(description="The experiment's type.")]
    name: Annotated[str, Field(description="The experiment's folder name (NNN-name).")]
    tests: NotRequired[dict[str, Any] | None]


ENTRY_ADAPTER: TypeAdapter[StoreEntry] = TypeAdapter(StoreEntry)


def parse_entry(raw: bytes) -> StoreEntry:
    """The entry in ``raw``.

    Raises:
        ValueError: one line saying what is wrong (the caller names the file).
    """
    if len(raw) > MAX_ENTRY_BYTES:
        raise ValueError(f"{len(raw)} bytes, more than the {MAX_ENTRY_BYTES} an entry holds")
    try:
        entry = ENTRY_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        kind = exc.errors()[0]["type"]
        if kind == "json_invalid":
            raise ValueError(f"not valid JSON ({exc.errors()[0]['msg']})") from None
        if kind in ("missing", "dict_type", "model_type", "string_type") and exc.errors()[0]["loc"][
            :1
        ] in ((), ("project",), ("type",), ("name",)):
            raise ValueError("expected an object with project, type and name") from None
        raise ValueError(validation_line(exc)) from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if json_depth(entry, MAX_DEPTH) > MAX_DEPTH:
        raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
    return entry

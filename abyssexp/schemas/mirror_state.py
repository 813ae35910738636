"""The schema of ``logs/mlflow.json``: which MLflow run mirrors an experiment at each tracking URI
(``integrations/mlflow_mirror.py`` writes it and is its one reader).

The file is a cache of what MLflow holds, never the truth, and a claim: it is read bounded, then
each entry through ``MirrorEntry``. An entry whose run id is not one is left out (the run is found
again by its tags); a damaged epoch or fingerprint reads as "nothing known", so the run is sent
again in full rather than skipped. Files written before fingerprints were kept (no ``sources``)
read as such.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

#: An MLflow run id: 32 lower-case hex digits.
RUN_ID_PATTERN = r"^[0-9a-f]{32}$"
#: mlflow.json holds a few lines per tracking URI: a larger file is not ours.
MAX_SYNC_FILE_BYTES = 1 << 20
#: More epochs than any run has: a larger "last synced epoch" is not one.
MAX_EPOCH = 10**9
_FINGERPRINT = re.compile(r"[0-9a-f]{32}")


def _epoch_or_zero(value: Any) -> int:
    """The last synced epoch, or 0 (every epoch sent again) when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_EPOCH:
        return value
    return 0


def _fingerprint_or_none(value: Any) -> str | None:
    """A sources fingerprint, or None (the run synced again) when it is not one."""
    return value if isinstance(value, str) and _FINGERPRINT.fullmatch(value) else None


class MirrorEntry(BaseModel):
    """What one tracking URI's entry holds (keys it does not know are dropped)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run_id: Annotated[
        str, Field(strict=True, pattern=RUN_ID_PATTERN, description="The MLflow run.")
    ]
    experiment_id: Annotated[
        str,
        BeforeValidator(lambda value: str(value or "")),
        Field(description="Its MLflow experiment ('' when not known)."),
    ] = ""
    epoch: Annotated[
        int,
        BeforeValidator(_epoch_or_zero),
        Field(description="The last epoch of history.csv sent (0: none known)."),
    ] = 0
    sources: Annotated[
        str | None,
        BeforeValidator(_fingerprint_or_none),
        Field(description="The mirrored files' stat fingerprint at that sync (None: unknown)."),
    ] = None


def mirror_entries(data: Any) -> dict[str, dict[str, Any]]:
    """The entries of a parsed mlflow.json that validate, by tracking URI, as plain dicts (the
    form the mirror writes back); anything else reads as no entry."""
    if not isinstance(data, dict):
        return {}
    entries = {}
    for uri, entry in data.items():
        if not isinstance(uri, str):
            continue
        try:
            entries[uri] = MirrorEntry.model_validate(entry).model_dump()
        except ValidationError:
            continue
    return entries

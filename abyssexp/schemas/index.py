"""The schema of ``.index.json``, the cache of one ``<scratch>/PROJECT/TYPE/`` folder that
``list``, ``--filter``, ``--changed`` and ``compare`` read instead of every experiment's files
(``experiment/index.py`` writes and reads it).

The index is a claim, like the summary file (``schemas/summary.py``): it is read through this
schema, strictly and with no unknown keys, and rebuilt from the experiments' own files when it
does not validate. Typed dicts rather than models: a validated entry is used as it is, and one
index holds thousands of entries.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from abyssexp.schemas.summary import BestValidation, ProvenanceDigest

#: 1: rows, flattened params as a difference from a base, and compare's summaries.
INDEX_VERSION = 1
#: About 1 KiB per experiment: 256 MiB is far more than any type folder's experiments need.
#: A larger file was not written by abyssexp, and is rebuilt unread.
MAX_INDEX_BYTES = 256 << 20

_STRICT = ConfigDict(extra="forbid", strict=True)

#: size, mtime (ns), ctime (ns) and inode of a source when its part of the entry was made.
Stat = tuple[int, int, int, int]


class Live(TypedDict):
    """What decides whether a ``running`` record's process is still alive."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    host: Annotated[str | None, Field(description="The host that ran it.")]
    pid: Annotated[int | None, Field(description="Its process id there.")]
    heartbeat_unix: Annotated[float | None, Field(description="Its last heartbeat (Unix s).")]
    pid_start: Annotated[int | None, Field(description="Its start time (processes.py).")]


class Times(TypedDict):
    """What ``compare`` shows of a run's time."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    started: Annotated[str | None, Field(description="When the last train started (UTC).")]
    finished: Annotated[str | None, Field(description="When it finished (UTC).")]
    train_seconds: Annotated[float | None, Field(description="Fitting time over every train.")]
    train_images: Annotated[int | None, Field(description="Images fitted over every train.")]


class RowFields(TypedDict):
    """A listing row's fields that come from record.json (``experiment_list.experiment_row``);
    the location (project, type, name, number, path) comes from the folder itself."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    status: Annotated[str, Field(description="The record's status (running: see live).")]
    live: Annotated[Live | None, Field(description="A running record's process.")]
    created: str | None
    parent: str | None
    epochs_done: int
    epochs_total: int | None
    best_metric: str | None
    best_value: float | None
    best_epoch: int | None
    tests: dict[str, dict[str, Any]]
    promoted: bool
    aliases: list[str]
    disk_bytes: int | None
    note: str
    tags: list[str]
    error: str | None
    started: str | None
    sweep: str | None
    slurm: dict[str, str | None] | None


class RecordPart(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    stat: Annotated[Stat, Field(description="record.json's stat when the row was made.")]
    row: RowFields
    times: Times


class ParamsPart(TypedDict):
    """The flattened params as a difference from the index's base (JSON text in the entry,
    validated only by the commands that use params)."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    stat: Annotated[Stat | None, Field(description="params.json's stat (None: missing).")]
    set: Annotated[dict[str, Any], Field(description="Params whose JSON text is not the base's.")]
    unset: Annotated[list[str], Field(description="Base params this experiment lacks.")]


class SummaryPart(TypedDict):
    """What ``compare`` shows from history.csv and provenance.json (JSON text in the entry,
    validated only by ``compare``)."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    history: Annotated[Stat | None, Field(description="logs/history.csv's stat (None: missing).")]
    provenance_file: Annotated[
        Stat | None, Field(description="logs/provenance.json's stat (None: missing).")
    ]
    validation: dict[str, BestValidation]
    provenance: ProvenanceDigest


class Entry(TypedDict):
    """One experiment folder's entry; a part is None when it could not be kept (its source
    changed too recently to trust its stat, or did not read)."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    record: RecordPart | None
    params: Annotated[str | None, Field(description="A ParamsPart as JSON text.")]
    summary: Annotated[str | None, Field(description="A SummaryPart as JSON text.")]


class Index(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]  # pydantic's config key, not a field

    index_version: Literal[1]  # INDEX_VERSION (a Literal needs the value)
    base: Annotated[
        str, Field(description="JSON text of the flattened params the deltas are taken from.")
    ]
    entries: Annotated[dict[str, Entry], Field(description="By experiment folder name.")]


INDEX_ADAPTER: TypeAdapter[Index] = TypeAdapter(Index)
PARAMS_PART_ADAPTER: TypeAdapter[ParamsPart] = TypeAdapter(ParamsPart)
SUMMARY_PART_ADAPTER: TypeAdapter[SummaryPart] = TypeAdapter(SummaryPart)

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

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from abyssexp.schemas.summary import BestValidation, ProvenanceDigest

#: 1: rows, flattened params as a difference from a base, and compare's summaries.
#: 2: the record part (stat, row, times) as arrays (``Row``), not objects.
INDEX_VERSION = 2
#: About 1 KiB per experiment: 256 MiB is far more than any type folder's experiments need.
#: A larger file was not written by abyssexp, and is rebuilt unread.
MAX_INDEX_BYTES = 256 << 20

_STRICT = ConfigDict(extra="forbid", strict=True)

#: size, mtime (ns), ctime (ns) and inode of a source when its part of the entry was made.
Stat = tuple[int, int, int, int]


#: A ``running`` record's process (what decides whether it is still alive), in this order:
#: host, pid, last heartbeat (Unix s), start time (``processes.py``).
Live = tuple[str | None, int | None, float | None, int | None]

#: What ``compare`` shows of a run's time, in this order: when the last train started and
#: finished (UTC), fitting time and images fitted over every train.
Times = tuple[str | None, str | None, float | None, int | None]
TIMES_KEYS = ("started", "finished", "train_seconds", "train_images")

#: A listing row's fields that come from record.json (``list_rows.record_fields``), as an array
#: in the order of ``ROW_KEYS``: the location (project, type, name, number, path) comes from
#: the folder itself. Arrays, not objects: 20,000 rows validate in half the time (issue 33).
Row = tuple[
    str,  # status: the record's own (running: see live)
    Live | None,  # live: a running record's process
    str | None,  # created
    str | None,  # parent
    int,  # epochs_done
    int | None,  # epochs_total
    str | None,  # best_metric
    float | None,  # best_value
    int | None,  # best_epoch
    dict[str, dict[str, Any]],  # tests
    bool,  # promoted
    list[str],  # aliases
    int | None,  # disk_bytes
    str,  # note
    list[str],  # tags
    str | None,  # error
    str | None,  # started
    str | None,  # sweep
    dict[str, str | None] | None,  # slurm
]
ROW_KEYS = (
    "status", "live", "created", "parent", "epochs_done", "epochs_total", "best_metric",
    "best_value", "best_epoch", "tests", "promoted", "aliases", "disk_bytes", "note", "tags",
    "error", "started", "sweep", "slurm",
)  # fmt: skip

#: record.json's stat when the row was made, the row, the record's times.
RecordPart = tuple[Stat, Row, Times]


@with_config(_STRICT)
class ParamsPart(TypedDict):
    """The flattened params as a difference from the index's base (JSON text in the entry,
    validated only by the commands that use params)."""

    stat: Annotated[Stat | None, Field(description="params.json's stat (None: missing).")]
    set: Annotated[dict[str, Any], Field(description="Params whose JSON text is not the base's.")]
    unset: Annotated[list[str], Field(description="Base params this experiment lacks.")]


@with_config(_STRICT)
class SummaryPart(TypedDict):
    """What ``compare`` shows from history.csv and provenance.json (JSON text in the entry,
    validated only by ``compare``)."""

    history: Annotated[Stat | None, Field(description="logs/history.csv's stat (None: missing).")]
    provenance_file: Annotated[
        Stat | None, Field(description="logs/provenance.json's stat (None: missing).")
    ]
    validation: dict[str, BestValidation]
    provenance: ProvenanceDigest


@with_config(_STRICT)
class Entry(TypedDict):
    """One experiment folder's entry; a part is None when it could not be kept (its source
    changed too recently to trust its stat, or did not read)."""

    record: Annotated[RecordPart | None, Field(description="(stat, Row, Times) of record.json.")]
    params: Annotated[str | None, Field(description="A ParamsPart as JSON text.")]
    summary: Annotated[str | None, Field(description="A SummaryPart as JSON text.")]


@with_config(_STRICT)
class Index(TypedDict):
    index_version: Literal[2]  # INDEX_VERSION (a Literal needs the value)
    base: Annotated[
        str, Field(description="JSON text of the flattened params the deltas are taken from.")
    ]
    entries: Annotated[dict[str, Entry], Field(description="By experiment folder name.")]


INDEX_ADAPTER: TypeAdapter[Index] = TypeAdapter(Index)
PARAMS_PART_ADAPTER: TypeAdapter[ParamsPart] = TypeAdapter(ParamsPart)
SUMMARY_PART_ADAPTER: TypeAdapter[SummaryPart] = TypeAdapter(SummaryPart)

"""The schema of ``logs/.summary.json``, the cache ``compare`` reads instead of history.csv and
provenance.json (``experiment/summary_cache.py`` writes and reads it).

A cache is a claim: whoever wrote the file (an older abyssexp, a hand edit, a planted file) may
have put anything in it, so it is read through this schema, strictly (a string where a number
belongs is not converted) and with no unknown keys, and rebuilt from its sources when it does not
validate. Typed dicts rather than models: a validated summary is used as it is, and ``compare``
reads one per experiment (validating from JSON bytes costs what ``json.loads`` does).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

#: 2: best values follow ``metric_direction`` (``val_mse`` and the like are now minimised).
SUMMARY_VERSION: Final = 2
#: A summary holds one best value per ``val_*`` column and a few provenance fields: kilobytes.
#: One larger was not written by abyssexp, and is rebuilt unread.
MAX_SUMMARY_BYTES = 1 << 20

_STRICT = ConfigDict(extra="forbid", strict=True)

#: size, mtime (ns), ctime (ns), inode and BLAKE2 hash of a source when the summary was made.
Fingerprint = tuple[int, int, int, int, str]


@with_config(_STRICT)
class BestValidation(TypedDict):
    value: Annotated[float, Field(description="The best value of the column over the epochs.")]
    epoch: Annotated[int, Field(description="The epoch that reached it.")]


@with_config(_STRICT)
class ProvenanceDigest(TypedDict):
    commit: Annotated[str | None, Field(description="Git commit of the latest run.")]
    branch: Annotated[str | None, Field(description="Git branch of the latest run.")]
    dirty: Annotated[bool | None, Field(description="Whether the work tree had changes.")]
    host: Annotated[str | None, Field(description="The host that ran it.")]
    gpus: Annotated[list[str] | None, Field(description="The GPUs TensorFlow saw.")]
    datasets: Annotated[
        dict[str, str | None], Field(description="sha256 of each dataset file (and the map).")
    ]


@with_config(_STRICT)
class Summary(TypedDict):
    summary_version: Literal[2]  # SUMMARY_VERSION (a Literal needs the value)
    sources: Annotated[
        dict[Literal["history", "provenance"], Fingerprint | None],
        Field(description="Each source's fingerprint when the summary was made (None: missing)."),
    ]
    validation: Annotated[
        dict[str, BestValidation], Field(description="Best value and epoch of every val_* column.")
    ]
    provenance: ProvenanceDigest


SUMMARY_ADAPTER: TypeAdapter[Summary] = TypeAdapter(Summary)


class SummaryDigest(TypedDict):
    """What ``compare`` shows of a summary (its sources' fingerprints left out)."""

    validation: dict[str, BestValidation]
    provenance: ProvenanceDigest

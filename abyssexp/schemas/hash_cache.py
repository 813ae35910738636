"""The schema of ``<scratch>/.cache/hashes.json``, the image hashes ``data check``, ``new`` and
``test`` reuse (``datasets/hash_cache.py`` reads and writes it).

A cache is a claim: it is read through this schema, strictly and with no unknown keys, bounded in
entries and bytes, and rebuilt (from the images) when it does not validate. Typed dicts rather
than models: 100,000 entries validate from JSON bytes in about what ``json.loads`` costs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, with_config
from typing_extensions import TypedDict

HASH_CACHE_VERSION = 1
#: Entries kept (least recently used dropped first): a few MB of JSON, read in well under a
#: second; larger datasets hash their remainder again on each check.
MAX_ENTRIES = 200_000
#: A file larger than this was not written by abyssexp, and is rebuilt unread.
MAX_BYTES = 64 << 20

_STRICT = ConfigDict(extra="forbid", strict=True)
StatKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
#: The perceptual, difference and wavelet hashes and the chroma, 16 hex digits each.
SignatureHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
#: SHA-256 of the bytes, the image's hashes (None: not computed yet, "": did not decode),
#: and when the entry was last used (Unix seconds).
Entry = tuple[Digest, SignatureHex | Literal[""] | None, Annotated[int, Field(ge=0)]]


@with_config(_STRICT)
class HashCacheFile(TypedDict):
    hash_cache_version: Literal[1]  # HASH_CACHE_VERSION (a Literal needs the value)
    hash_kind: Annotated[
        str, Field(description="Which hashes the entries hold (near_duplicates.HASH_KIND).")
    ]
    entries: Annotated[
        dict[StatKey, Entry],
        Field(
            description="Per file (a digest of its real path, size and mtime): its SHA-256, its "
            "image hashes and when the entry was last used.",
            max_length=MAX_ENTRIES,
        ),
    ]


HASH_CACHE_ADAPTER = TypeAdapter(HashCacheFile)

"""The schema of ``logs/provenance.json`` (where and from what an experiment was made and
trained) and its one reader and writer (``experiment/create.py`` and
``experiment/provenance.py`` fill it).

Its sections are the facts a process could collect (git, host, packages, datasets, the command
line), which vary with the version and the machine: a section is any object, and unknown keys
are kept, so every provenance.json ever written reads; a section that is not an object is
refused rather than used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from abyssexp.atomic import atomic_write_json
from abyssexp.jsonio import MAX_DEPTH, MAX_SMALL_JSON_BYTES, json_depth
from abyssexp.schemas.files import load_file

#: A section is a dict of collected facts (git, host, packages, datasets, command_line...).
Section = dict[str, Any]


@with_config(ConfigDict(extra="allow"))
class ProvenanceFile(TypedDict):
    new: NotRequired[Annotated[Section | None, Field(description="Facts of `abyssexp new`.")]]
    train: NotRequired[
        Annotated[Section | None, Field(description="Facts of the latest `abyssexp train`.")]
    ]
    train_runs: NotRequired[
        Annotated[list[Section], Field(description="time, command line and git of each run.")]
    ]


PROVENANCE_ADAPTER: TypeAdapter[ProvenanceFile] = TypeAdapter(ProvenanceFile)


def load_provenance(path: Path) -> ProvenanceFile | None:
    """``logs/provenance.json``, or None when it is missing or does not read back."""
    return load_file(path, PROVENANCE_ADAPTER, MAX_SMALL_JSON_BYTES)


def parse_provenance(raw: bytes) -> ProvenanceFile | None:
    """The provenance in ``raw`` (bytes the summary cache fingerprinted), or None."""
    try:
        data = PROVENANCE_ADAPTER.validate_json(raw)
    except (ValidationError, RecursionError, ValueError):
        return None
    return data if json_depth(data, MAX_DEPTH) <= MAX_DEPTH else None


def latest_section(provenance: ProvenanceFile | None) -> Section:
    """The latest section (``train``, else ``new``); empty when there is none."""
    if not provenance:
        return {}
    return provenance.get("train") or provenance.get("new") or {}


def write_provenance(path: Path, provenance: ProvenanceFile) -> None:
    atomic_write_json(path, provenance)

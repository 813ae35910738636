"""The schema of ``export.json``, what ``models/export.py`` measured when it exported a
checkpoint (each format's parity with the Keras model), and its one reader.

``promote`` copies it into the store, ``serve`` shows its parity and a second export checks
which formats a folder already holds; all three read it here. Unknown keys are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import NotRequired

from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict

from abyssexp.jsonio import MAX_SMALL_JSON_BYTES
from abyssexp.schemas.files import load_file


@with_config(ConfigDict(extra="allow"))
class FormatParity(TypedDict):
    """One format's export as measured against the Keras model on the parity images."""

    path: NotRequired[str]
    bytes: NotRequired[int]
    max_abs_difference: NotRequired[float]
    top1_agreement: NotRequired[float]
    images_per_second: NotRequired[float | None]


@with_config(ConfigDict(extra="allow"))
class ExportManifest(TypedDict):
    source: NotRequired[str | None]
    parity_images: NotRequired[int | None]
    tolerance: NotRequired[float | None]
    formats: NotRequired[dict[str, FormatParity]]


EXPORT_MANIFEST_ADAPTER: TypeAdapter[ExportManifest] = TypeAdapter(ExportManifest)


def load_export_manifest(path: Path) -> ExportManifest | None:
    """An ``export.json``, or None when it is missing or not its shape."""
    return load_file(path, EXPORT_MANIFEST_ADAPTER, MAX_SMALL_JSON_BYTES)

"""The layout of a promoted model's folder, the way ``layout.ExperimentPaths`` is for scratch.

``<store>/<project>/<type>/<name>/`` (or a local copy of one from an object store) holds::

    model.keras          the promoted checkpoint (``model.h5`` for a legacy one)
    entry.json           what was promoted, from where, when, its tests (listed in the manifest)
    MANIFEST.sha256      sha256 of every other file (``sha256sum -c`` format)
    params.json  model_definition.json  category_map.json  class_names.json  thresholds.json
    readme.txt  logs/  testing/<condition>/  export/<format files>  export/export.json

Every name a promotion writes and every reader (store, evaluation, ``predict``, ``export``, the
command line) uses lives here; nothing here touches the disk except ``is_promoted_folder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from abyssexp.experiment.layout import (
    CATEGORY_MAP_FILE,
    CLASS_NAMES_FILE,
    LOGS_DIR,
    MODEL_DEFINITION_FILE,
    PARAMS_FILE,
    README_FILE,
    TESTING_DIR,
    THRESHOLDS_FILE,
)

MODEL_STEM = "model"
MODEL_FILE = "model.keras"
ENTRY_FILE = "entry.json"
MANIFEST = "MANIFEST.sha256"
EXPORT_DIR = "export"
#: In an exports folder: each format's path, size, parity and speed (``models.export``).
EXPORT_MANIFEST = "export.json"


def model_file_name(checkpoint: Path) -> str:
    """The promoted name of a checkpoint: ``model`` with its suffix (``model.keras``)."""
    return f"{MODEL_STEM}{checkpoint.suffix}"


@dataclass(frozen=True)
class PromotedPaths:
    """Every path inside one promoted model's folder."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / MODEL_FILE

    @property
    def entry(self) -> Path:
        return self.root / ENTRY_FILE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def exports(self) -> Path:
        return self.root / EXPORT_DIR

    @property
    def testing(self) -> Path:
        return self.root / TESTING_DIR

    @property
    def params(self) -> Path:
        return self.root / PARAMS_FILE

    @property
    def model_definition(self) -> Path:
        return self.root / MODEL_DEFINITION_FILE

    @property
    def category_map(self) -> Path:
        return self.root / CATEGORY_MAP_FILE

    @property
    def class_names(self) -> Path:
        return self.root / CLASS_NAMES_FILE

    @property
    def thresholds(self) -> Path:
        return self.root / THRESHOLDS_FILE

    @property
    def readme(self) -> Path:
        return self.root / README_FILE

    @property
    def logs(self) -> Path:
        return self.root / LOGS_DIR


def is_promoted_folder(folder: Path) -> bool:
    """Whether ``folder`` is a promoted model's folder (it holds ``entry.json``)."""
    return folder.is_dir() and PromotedPaths(folder).entry.is_file()

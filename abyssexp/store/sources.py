"""Which model a source names, as a local ``.keras`` file: ``export`` and ``predict`` take a
checkpoint file, a promoted folder, a promoted model's URL (``s3://...``), ``PROJECT/TYPE@ALIAS``
or an experiment reference.

A model in an object store is downloaded into the local cache first (``PromotedModel.
local_folder``: checked against its manifest); an alias is resolved by the store's registry.
"""

from __future__ import annotations

from pathlib import Path

from abyssexp.config import StoreURL
from abyssexp.errors import InvalidInputError
from abyssexp.experiment.promoted import PromotedPaths, is_promoted_folder
from abyssexp.store.backend import open_promoted, open_store


def resolve_export_source(
    source: str, scratch: Path, store: Path | StoreURL
) -> tuple[Path, Path | None]:
    """A ``.keras`` file, a promoted folder, a promoted model's URL (``s3://...``),
    ``PROJECT/TYPE@ALIAS`` or an experiment REF → (checkpoint, the folder holding its
    ``testing/``, if any). Class names and thresholds lie beside the checkpoint's folder:
    ``class_names.json`` (promoted) or ``models/`` (scratch). A model in an object store is
    downloaded into the local cache first (``store.cache``), checked against its manifest."""
    path = Path(source)
    if "://" in source:
        path = open_promoted(source, "model").local_folder()
    elif "@" in source and not path.exists():
        path = open_promoted(open_store(store).resolve_alias(source)).local_folder()
    if path.is_file() and path.suffix == ".keras":
        return path, None
    if is_promoted_folder(path):
        promoted = PromotedPaths(path)
        if not promoted.model.is_file():
            raise InvalidInputError(f"{path}: a promoted folder without {promoted.model.name}")
        return promoted.model, promoted.testing
    from abyssexp.experiment.checkpoints import resolve_checkpoint
    from abyssexp.experiment.refs import resolve_ref

    paths = resolve_ref(source, scratch)
    return resolve_checkpoint(paths, "best"), paths.testing

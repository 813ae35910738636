"""``open_store`` picks the backend once, by the root's scheme (``open_promoted`` a promoted
model's kind); both backends answer the same calls (the behaviour of each is tested in the other files of this folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abyssexp.config import StoreURL
from abyssexp.errors import InvalidInputError
from abyssexp.store.backend import (
    BACKENDS,
    PROMOTED_MODELS,
    PromotedModel,
    StoreBackend,
    open_promoted,
    open_store,
)
from abyssexp.store.folder_backend import FolderModel, FolderStore
from abyssexp.store.remote_backend import ObjectStoreBackend, ObjectStoreModel


def test_open_store_picks_the_backend_by_scheme(tmp_path: Path) -> None:
    assert open_store(tmp_path) == FolderStore(tmp_path)
    assert open_store(str(tmp_path)) == FolderStore(tmp_path)
    assert open_store(f"file://{tmp_path}") == FolderStore(tmp_path)
    remote = open_store("s3://team-models/abyss")
    assert remote == ObjectStoreBackend(StoreURL("s3", "team-models", "abyss"))
    assert set(BACKENDS) == {"s3"}
    with pytest.raises(InvalidInputError, match=r"cannot store to gs://.*s3://BUCKET/PREFIX"):
        open_store("gs://bucket/models")


def test_the_interface_is_written_once_and_both_backends_implement_it() -> None:
    # One base class (issue 32, item 4): nothing abstract is left in either backend, and the
    # listing and alias operations come from the base, not from each backend.
    for backend in (FolderStore, ObjectStoreBackend):
        assert issubclass(backend, StoreBackend) and not backend.__abstractmethods__
        for shared in ("list_promoted", "set_alias", "remove_alias"):
            assert getattr(backend, shared) is getattr(StoreBackend, shared)
    for model in (FolderModel, ObjectStoreModel):
        assert issubclass(model, PromotedModel) and not model.__abstractmethods__


def test_a_store_and_a_promoted_model_are_kept_apart(tmp_path: Path) -> None:
    # A store has a registry and no manifest of its own; a promoted model has a manifest and no
    # registry: neither offers the other's operations.
    assert not hasattr(StoreBackend, "verify") and not hasattr(StoreBackend, "local_folder")
    assert not hasattr(PromotedModel, "read_registry") and not hasattr(PromotedModel, "promote")
    assert open_promoted(tmp_path) == FolderModel(tmp_path)
    remote = open_promoted("s3://team-models/abyss/p/t/001.a")
    assert remote == ObjectStoreModel(StoreURL("s3", "team-models", "abyss/p/t/001.a"))
    assert set(PROMOTED_MODELS) == set(BACKENDS)
    with pytest.raises(InvalidInputError, match=r"model 'gs://.*: abyssexp cannot store to gs://"):
        open_promoted("gs://bucket/models/p/t/001.a")


def test_a_folder_store_lists_and_resolves_nothing_yet(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    assert store.list_promoted() == [] and store.alias_history() == []
    with pytest.raises(InvalidInputError, match="no alias 'production' for p/t"):
        store.resolve_alias("p/t@production")

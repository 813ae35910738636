"""``open_store`` picks the backend once, by the root's scheme; both backends answer the same
calls (the behaviour of each is tested in the other files of this folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abyssexp.config import StoreURL
from abyssexp.errors import InvalidInputError
from abyssexp.store.backend import BACKENDS, StoreBackend, open_store
from abyssexp.store.folder_backend import FolderStore
from abyssexp.store.remote_backend import ObjectStoreBackend


def test_open_store_picks_the_backend_by_scheme(tmp_path: Path) -> None:
    assert open_store(tmp_path) == FolderStore(tmp_path)
    assert open_store(str(tmp_path)) == FolderStore(tmp_path)
    assert open_store(f"file://{tmp_path}") == FolderStore(tmp_path)
    remote = open_store("s3://team-models/abyss")
    assert remote == ObjectStoreBackend(StoreURL("s3", "team-models", "abyss"))
    assert set(BACKENDS) == {"s3"}
    with pytest.raises(InvalidInputError, match=r"cannot store to gs://.*s3://BUCKET/PREFIX"):
        open_store("gs://bucket/models")


def test_both_backends_have_every_method_of_the_protocol() -> None:
    wanted = {
        name
        for name, value in vars(StoreBackend).items()
        if callable(value) and not name.startswith("_")
    }
    assert {"promote", "update_registry", "repair", "verify", "local_folder"} <= wanted
    for backend in (FolderStore, ObjectStoreBackend):
        assert wanted <= set(dir(backend)), sorted(wanted - set(dir(backend)))


def test_a_folder_store_lists_and_resolves_nothing_yet(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    assert store.list_promoted() == [] and store.alias_history() == []
    with pytest.raises(InvalidInputError, match="no alias 'production' for p/t"):
        store.resolve_alias("p/t@production")

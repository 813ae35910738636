"""``ObjectStoreBackend``: a store in object storage (``s3://BUCKET/PREFIX``).

No rename, append or lock there: ``registry.json`` is rewritten by compare-and-swap and alias
moves are one object each (``store.remote_registry``), a promotion claims its prefix, uploads,
reads every object back and commits by writing ``entry.json`` only if absent
(``store.remote_promote``), ``store.remote_repair`` rebuilds the registry from the entries, and a
promoted model is downloaded into the local cache to be used (``store.cache``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from abyssexp.config import StoreURL, parse_store
from abyssexp.schemas.registry import Registry
from abyssexp.store import aliases, registry, remote_registry
from abyssexp.store.interface import PromotedModel, StoreBackend

if TYPE_CHECKING:
    from abyssexp.store.promotion import Progress, PromoteResult, PromotionRequest
    from abyssexp.store.repair import RepairReport


@dataclass(frozen=True)
class ObjectStoreBackend(StoreBackend):
    """The store at the URL ``root``; see the module docstring."""

    root: StoreURL

    def read_registry(self) -> Registry:
        return remote_registry.read_registry(self.root)

    def prepare_registry(self) -> Registry:
        return remote_registry.prepare_registry(self.root)

    def update_registry(self, change: registry.Change, via: str = "promote") -> Registry:
        return remote_registry.update_registry(self.root, change, via)

    def resolve_alias(self, reference: str) -> StoreURL:
        # The rows of an object store hold its URLs.
        return cast(
            StoreURL, parse_store(registry.alias_path(self.read_registry(), reference, self.root))
        )

    def alias_history(self, reference: str | None = None) -> list[dict[str, Any]]:
        return aliases.filter_moves(remote_registry.read_moves(self.root), reference)

    def check_destination(self, request: PromotionRequest) -> None:
        """An object store has no folder links: every key is its own."""

    def promote(
        self,
        request: PromotionRequest,
        *,
        move: bool = False,
        progress: Progress | None = None,
        exports: Path | None = None,
    ) -> PromoteResult:
        from abyssexp.store.remote_promote import promote_to_object_store

        return promote_to_object_store(request, self.root, move, progress, exports)

    def repair(self, scratch: Path) -> RepairReport:
        from abyssexp.store.remote_repair import repair_object_store

        return repair_object_store(self.root, scratch)


@dataclass(frozen=True)
class ObjectStoreModel(PromotedModel):
    """A promoted model under the URL ``location``: read back and hashed to verify, downloaded
    into the local cache (``store.cache``) to be used."""

    location: StoreURL

    def verify(self) -> list[str]:
        from abyssexp.store.remote_promote import verify_object_prefix

        return verify_object_prefix(self.location)

    def local_folder(self) -> Path:
        from abyssexp.store.cache import cached_model

        return cached_model(self.location)

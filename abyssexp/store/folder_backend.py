"""``FolderStore``: a store on a file system (a local disk, a mounted share).

``registry.json`` is changed under ``.registry.lock`` (``store.registry``), alias moves are
appended to ``alias-history.jsonl`` (``store.aliases``), a promotion is staged in an owned
temporary folder and renamed into place (``store.folder_promote``), and ``store.repair`` rebuilds the
registry from the promoted folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.schemas.registry import Registry
from abyssexp.store import aliases, registry
from abyssexp.store.interface import PromotedModel, StoreBackend

if TYPE_CHECKING:
    from abyssexp.store.promotion import Progress, PromoteResult, PromotionRequest
    from abyssexp.store.repair import RepairReport


@dataclass(frozen=True)
class FolderStore(StoreBackend):
    """The store at ``root``; see the module docstring."""

    root: Path

    def read_registry(self) -> Registry:
        return registry.read_registry(self.root)

    def prepare_registry(self) -> Registry:
        return registry.prepare_registry(self.root)

    def update_registry(self, change: registry.Change, via: str = "promote") -> Registry:
        return registry.update_registry(self.root, change, via)

    def resolve_alias(self, reference: str) -> Path:
        return Path(registry.alias_path(self.read_registry(), reference, self.root))

    def alias_history(self, reference: str | None = None) -> list[dict[str, Any]]:
        return aliases.filter_moves(aliases.read_history(self.root), reference)

    def check_destination(self, request: PromotionRequest) -> None:
        from abyssexp.store.folder_promote import destination_of

        destination_of(request, self.root)

    def promote(
        self,
        request: PromotionRequest,
        *,
        move: bool = False,
        progress: Progress | None = None,
        exports: Path | None = None,
    ) -> PromoteResult:
        from abyssexp.store.folder_promote import promote_to_folder

        return promote_to_folder(request, self.root, move, progress, exports)

    def repair(self, scratch: Path) -> RepairReport:
        from abyssexp.store.repair import repair_store

        return repair_store(self.root, scratch)


@dataclass(frozen=True)
class FolderModel(PromotedModel):
    """A promoted model in the folder ``location``."""

    location: Path

    def verify(self) -> list[str]:
        from abyssexp.store.manifest import verify_tree

        return verify_tree(self.location)

    def local_folder(self) -> Path:
        return self.location

"""The interfaces of ``store/``, written once: ``StoreBackend`` (a store: its registry,
promotions, alias history and repair) and ``PromotedModel`` (one promoted model's location: its
manifest and a local copy). ``store.backend`` picks the class for a location; each backend module
(``folder_backend``, ``remote_backend``) subclasses both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abyssexp.config import StoreURL
    from abyssexp.schemas.registry import Registry
    from abyssexp.store.promotion import Progress, PromoteResult, PromotionRequest
    from abyssexp.store.registry import Change
    from abyssexp.store.repair import RepairReport


class StoreBackend(ABC):
    """A store, whatever holds it: the operations the commands need, written once. A backend
    implements the abstract ones; listing and alias changes follow from its ``read_registry``
    and ``update_registry`` (the alias rules are ``store.registry``'s and ``store.aliases``',
    the same for every backend). One promoted model is a ``PromotedModel``, not a store."""

    root: Path | StoreURL

    def __str__(self) -> str:
        return str(self.root)

    @abstractmethod
    def read_registry(self) -> Registry:
        """The registry; empty when the store holds nothing yet.

        Raises:
            RegistryUnreadableError: it does not parse, or is missing while models are promoted.
        """

    @abstractmethod
    def prepare_registry(self) -> Registry:
        """The registry, created empty first when there is none (a promotion's plan step)."""

    @abstractmethod
    def update_registry(self, change: Change, via: str = "promote") -> Registry:
        """Apply ``change`` atomically against concurrent writers (a lock, or compare-and-swap),
        and record every alias it moves in the alias history (``via``: by what command).

        Raises:
            RegistryUnreadableError: the registry is missing or does not parse.
            ExperimentStateError: other writers kept it busy for ``registry.LOCK_TIMEOUT_S``.
        """

    @abstractmethod
    def resolve_alias(self, reference: str) -> Path | StoreURL:
        """``PROJECT/TYPE@ALIAS`` → the promoted model's location."""

    @abstractmethod
    def alias_history(self, reference: str | None = None) -> list[dict[str, Any]]:
        """The moves of ``ALIAS`` or ``PROJECT/TYPE@ALIAS`` (all when None), oldest first."""

    @abstractmethod
    def check_destination(self, request: PromotionRequest) -> None:
        """Refuse a destination the promotion could not write (a folder link on the way),
        before anything slow (``--export``) is made for it."""

    @abstractmethod
    def promote(
        self,
        request: PromotionRequest,
        *,
        move: bool = False,
        progress: Progress | None = None,
        exports: Path | None = None,
    ) -> PromoteResult:
        """Carry out a checked promotion as a transaction (claim, copy or upload, verify,
        commit, register, record), or finish this request's interrupted one. ``exports``: a
        folder of exports made beforehand, carried under ``export/``."""

    @abstractmethod
    def repair(self, scratch: Path) -> RepairReport:
        """Rebuild the registry from the promoted models and clean up after interrupted ones;
        promotions missing from records are recorded only for experiments under ``scratch``."""

    def list_promoted(
        self, project: str | None = None, experiment_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Registry rows with the aliases that point at each now."""
        from abyssexp.store.registry import promoted_rows

        return promoted_rows(self.read_registry(), project, experiment_type)

    def set_alias(
        self, location: str, alias: str, name: str, accepted: frozenset[str] = frozenset()
    ) -> Registry:
        """Point ``alias`` of ``location`` (``PROJECT/TYPE``) at the promoted model ``name``;
        its blocking caveats must be named in ``accepted`` (recorded in the alias history)."""
        from abyssexp.store import aliases

        via = "alias set" + (f" --accept {','.join(sorted(accepted))}" if accepted else "")
        return self.update_registry(aliases.setting(location, alias, name, accepted), via=via)

    def remove_alias(self, location: str, alias: str) -> Registry:
        """Remove ``alias`` of ``location``; the models stay promoted."""
        from abyssexp.store import aliases

        return self.update_registry(aliases.removing(location, alias), via="alias rm")


class PromotedModel(ABC):
    """One promoted model's location (a folder, or a prefix of an object store): what
    ``verify``, ``predict``, ``export`` and ``serve`` need of it. Kept apart from the store
    that holds it: nothing here reads or changes a registry."""

    location: Path | StoreURL

    def __str__(self) -> str:
        return str(self.location)

    @abstractmethod
    def verify(self) -> list[str]:
        """Problems of the model against its manifest (empty: intact)."""

    @abstractmethod
    def local_folder(self) -> Path:
        """The model as a local folder (downloaded into the cache and checked against its
        manifest when it is remote)."""

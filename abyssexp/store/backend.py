"""One store, several backends: the ``StoreBackend`` protocol and ``open_store``.

A store root is a folder (``FolderStore``: a lock file guards ``registry.json``, promotions are
staged in a temporary folder and renamed into place) or an object-store URL
(``ObjectStoreBackend``: ``s3://``, compare-and-swap on ``registry.json``, a promotion is
committed by writing its ``entry.json`` only if absent). ``open_store`` picks the backend once,
by the root's scheme; commands call ``open_store(root)`` and then one method, and nothing else
asks which kind of store it holds (MLflow's ``abstract_store.py`` and
``artifact_repository_registry.py``).

What both backends share lives in one module each: the promotion's request, requirement check,
result, fault points, "same request" detection and record-once in ``store.promotion``; the
registry's shape, rows and alias rules in ``store.registry``; alias history lines in
``store.aliases``; the repair report and the registry rebuild in ``store.repair``.

Adding a backend (see docs/architecture.md): write a class with these methods, add its URL
scheme to ``config.OBJECT_STORE_SCHEMES`` (so ``parse_store`` accepts it) and to ``BACKENDS``
below, and copy ``tests/store/test_object_store.py`` onto a server of the new kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from abyssexp.config import StoreURL, parse_store

if TYPE_CHECKING:
    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.store.promotion import Progress, PromoteResult, PromotionRequest, Requirement
    from abyssexp.store.registry import Change
    from abyssexp.store.repair import RepairReport


class StoreBackend(Protocol):
    """The operations the commands need from a store, whatever holds it."""

    @property
    def root(self) -> Path | StoreURL:
        """The store root (or, for ``verify`` and ``local_folder``, one promoted model's
        location); read-only, as the frozen backends hold it."""
        ...

    def read_registry(self) -> dict[str, Any]:
        """The registry; empty when the store holds nothing yet.

        Raises:
            RegistryUnreadableError: it does not parse, or is missing while models are promoted.
        """
        ...

    def prepare_registry(self) -> dict[str, Any]:
        """The registry, created empty first when there is none (a promotion's plan step)."""
        ...

    def update_registry(self, change: Change, via: str = "promote") -> dict[str, Any]:
        """Apply ``change`` atomically against concurrent writers (a lock, or compare-and-swap),
        and record every alias it moves in the alias history (``via``: by what command).

        Raises:
            RegistryUnreadableError: the registry is missing or does not parse.
            ExperimentStateError: other writers kept it busy for ``registry.LOCK_TIMEOUT_S``.
        """
        ...

    def list_promoted(
        self, project: str | None = None, experiment_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Registry rows with the aliases that point at each now."""
        ...

    def resolve_alias(self, reference: str) -> Path | StoreURL:
        """``PROJECT/TYPE@ALIAS`` → the promoted model's location."""
        ...

    def set_alias(
        self, location: str, alias: str, name: str, accepted: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Point ``alias`` of ``location`` (``PROJECT/TYPE``) at the promoted model ``name``;
        its blocking caveats must be named in ``accepted`` (recorded in the alias history)."""
        ...

    def remove_alias(self, location: str, alias: str) -> dict[str, Any]:
        """Remove ``alias`` of ``location``; the models stay promoted."""
        ...

    def alias_history(self, reference: str | None = None) -> list[dict[str, Any]]:
        """The moves of ``ALIAS`` or ``PROJECT/TYPE@ALIAS`` (all when None), oldest first."""
        ...

    def check_destination(self, request: PromotionRequest) -> None:
        """Refuse a destination the promotion could not write (a folder link on the way),
        before anything slow (``--export``) is made for it."""
        ...

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
        ...

    def verify(self) -> list[str]:
        """Problems of the promoted model at ``root`` against its manifest (empty: intact)."""
        ...

    def repair(self, scratch: Path) -> RepairReport:
        """Rebuild the registry from the promoted models and clean up after interrupted ones;
        promotions missing from records are recorded only for experiments under ``scratch``."""
        ...

    def local_folder(self) -> Path:
        """The promoted model at ``root`` as a local folder (downloaded into the cache and
        checked against its manifest when the store is remote)."""
        ...


def _object_store(root: StoreURL) -> StoreBackend:
    from abyssexp.store.remote_backend import ObjectStoreBackend

    return ObjectStoreBackend(root)


#: URL scheme → the backend of a store at such a URL (a plain path is a ``FolderStore``).
BACKENDS: dict[str, Callable[[StoreURL], StoreBackend]] = {"s3": _object_store}


def open_store(root: str | Path | StoreURL, what: str = "store") -> StoreBackend:
    """The backend of the store (or promoted model) at ``root``: a folder, or a URL whose
    scheme ``BACKENDS`` knows.

    Raises:
        InvalidInputError: a URL of a scheme abyssexp cannot store to (``what`` names the input).
    """
    target = parse_store(root, what) if isinstance(root, str) else root
    if isinstance(target, StoreURL):
        return BACKENDS[target.scheme](target)
    from abyssexp.store.folder_backend import FolderStore

    return FolderStore(target)


def promote_experiment(
    paths: ExperimentPaths,
    store: str | Path | StoreURL,
    checkpoint: str = "best",
    requirements: list[Requirement] | None = None,
    aliases: list[str] | None = None,
    move: bool = False,
    force_untested: bool = False,
    progress: Progress | None = None,
    make_exports: Callable[[Path], Path] | None = None,
    accepted: frozenset[str] = frozenset(),
) -> PromoteResult:
    """Promote an experiment's checkpoint to the store as a transaction: plan, then act.

    Args:
        paths: the experiment.
        store: the store root (a folder or a URL; ``open_store``).
        checkpoint: ``best``, ``last`` or an epoch number.
        requirements: ``--require`` conditions that must hold.
        aliases: aliases to point at the promoted model.
        move: then free the scratch checkpoints that were not promoted.
        force_untested: promote without a testing condition.
        progress: called with (bytes copied, bytes in all).
        make_exports: ``promote --export``: makes the checkpoint's exports (checked for parity,
            ``evaluation.export_parity``) once the plan holds and returns their folder, which the
            store carries under ``export/`` like any other file.
        accepted: blocking caveat codes to promote despite (``--accept``; recorded).

    Returns:
        Where it went and what it carried.

    Raises:
        StoreError: a requirement not met, a blocking caveat not accepted, a broken registry,
            a failed export, or a conflict.
        InvalidInputError: a bad alias or requirement.
    """
    from abyssexp.store.promotion import check_request, export_parity

    request = check_request(
        paths, checkpoint, requirements or [], list(aliases or []), move, force_untested, accepted
    )
    backend = open_store(store)
    backend.prepare_registry()  # a broken registry stops us before anything changes
    backend.check_destination(request)  # a linked project folder too, before the export
    exports = make_exports(request.checkpoint) if make_exports else None
    result = backend.promote(request, move=move, progress=progress, exports=exports)
    return replace(result, caveats=request.caveats, exports=export_parity(exports))

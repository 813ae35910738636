"""One store, several backends: ``open_store`` picks the ``StoreBackend`` of a root, and
``open_promoted`` the ``PromotedModel`` of one promoted model's location (both interfaces are
``store.interface``'s).

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

Adding a backend (see docs/architecture.md): subclass ``StoreBackend`` and ``PromotedModel``,
add its URL scheme to ``config.OBJECT_STORE_SCHEMES`` (so ``parse_store`` accepts it) and to
``BACKENDS`` and ``PROMOTED_MODELS`` below, and copy ``tests/store/test_object_store.py`` onto
a server of the new kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from abyssexp.config import StoreURL, parse_store
from abyssexp.store.interface import PromotedModel, StoreBackend

if TYPE_CHECKING:
    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.store.promotion import Progress, PromoteResult, Requirement

__all__ = ["PromotedModel", "StoreBackend", "open_promoted", "open_store", "promote_experiment"]


def _object_store(root: StoreURL) -> StoreBackend:
    from abyssexp.store.remote_backend import ObjectStoreBackend

    return ObjectStoreBackend(root)


def _object_model(location: StoreURL) -> PromotedModel:
    from abyssexp.store.remote_backend import ObjectStoreModel

    return ObjectStoreModel(location)


#: URL scheme → the backend of a store at such a URL (a plain path is a ``FolderStore``).
BACKENDS: dict[str, Callable[[StoreURL], StoreBackend]] = {"s3": _object_store}
#: URL scheme → a promoted model at such a URL (a plain path is a ``FolderModel``).
PROMOTED_MODELS: dict[str, Callable[[StoreURL], PromotedModel]] = {"s3": _object_model}


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


def open_promoted(location: str | Path | StoreURL, what: str = "model") -> PromotedModel:
    """The promoted model at ``location``: a folder, or a URL whose scheme ``PROMOTED_MODELS``
    knows.

    Raises:
        InvalidInputError: a URL of a scheme abyssexp cannot read (``what`` names the input).
    """
    target = parse_store(location, what) if isinstance(location, str) else location
    if isinstance(target, StoreURL):
        return PROMOTED_MODELS[target.scheme](target)
    from abyssexp.store.folder_backend import FolderModel

    return FolderModel(target)


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

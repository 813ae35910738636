"""Alias watching: the store's registry polled, a moved alias's model loaded beside the old one.

Every ``interval`` seconds the alias is resolved again (``registry.json``, in a folder or an
object store: a read, never a lock). When it points elsewhere, the new model is verified
against its manifest and loaded and warmed up in a thread while the old one keeps answering;
then the batcher swaps the reference between two batches. A model that fails verification or
loading is not swapped in: the old one keeps serving, the failure is logged and shown in
``/v1/model``, and that location is not tried again until the alias moves once more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from abyssexp.serving.loaded import load_promoted, locate_alias

if TYPE_CHECKING:
    from abyssexp.serving.batching import MicroBatcher
    from abyssexp.serving.options import ServeOptions

log = logging.getLogger(__name__)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class AliasWatcher:
    """Polls ``options.source`` (``PROJECT/TYPE@ALIAS``) and swaps ``batcher``'s model."""

    options: ServeOptions
    batcher: MicroBatcher
    swaps: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, Any] | None = None
    #: Called after each swap (the metrics count them).
    on_swap: Callable[[], None] | None = None

    async def run(self) -> None:
        """Poll until cancelled; a failure to read the registry is logged and retried."""
        while True:
            await asyncio.sleep(self.options.watch_s)
            try:
                await self.check()
            except Exception as exc:  # noqa: BLE001 - the store unreachable: keep serving
                log.warning("alias %s: cannot check it now (%s)", self.options.source, exc)

    async def check(self) -> bool:
        """Resolve the alias once; load and swap in its model if it moved. Returns whether
        the model was swapped."""
        location = str(await asyncio.to_thread(locate_alias, self.options))
        if location == self.batcher.model.location:
            return False
        if self.refused is not None and self.refused["location"] == location:
            return False
        log.info(
            "alias %s moved to %s: loading it beside the model serving",
            self.options.source,
            location,
        )
        try:
            model = await asyncio.to_thread(load_promoted, location, self.options)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the old model keeps serving
            self.refused = {"location": location, "at": _now(), "reason": str(exc)}
            log.error(
                "alias %s: %s was not loaded (%s); still serving %s (sha256 %s)",
                self.options.source,
                location,
                exc,
                self.batcher.model.name,
                self.batcher.model.checksum[:12],
            )
            return False
        old = self.batcher.swap(model)
        self.refused = None
        self.swaps.append(
            {
                "at": _now(),
                "from": {"name": old.name, "checksum": old.checksum},
                "to": {"name": model.name, "checksum": model.checksum},
            }
        )
        if self.on_swap:
            self.on_swap()
        log.info(
            "alias %s: now serving %s (sha256 %s) instead of %s (sha256 %s)",
            self.options.source,
            model.name,
            model.checksum[:12],
            old.name,
            old.checksum[:12],
        )
        return True

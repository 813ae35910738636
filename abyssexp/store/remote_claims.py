"""Who is uploading a promotion into an object store: the claim object.

An object store has no rename, so a promotion uploads straight into its destination prefix
``<project>/<type>/<name>/`` and becomes visible only when it writes ``entry.json`` there, last.
Until then that prefix is the promotion's temporary, and only the holder of its claim may write
to it. The claim is ``<project>/<type>/.claim-<name>.json`` (``{"host", "pid", "started",
"process_start", "id"}``), created only if absent (``If-None-Match: *``) before the first upload,
and deleted after the entry is written (or after the uploads are removed on a failure).

A claim is *stale* when its owner is a process of this host that is gone (the pid is free, or
now another process's: its start time differs). A stale claim is taken over by replacing it
only if it is still the object that was judged stale (``If-Match: <ETag>``), so two processes
never both take it; the taker then removes the dead promotion's uploads. Another host's claim
is never taken over automatically (this host cannot tell whether its process lives): the message
names it, and it is deleted by hand once no promotion runs there. A claim whose entry exists is
left over from a promotion killed after its commit, and is simply deleted.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from abyssexp import processes
from abyssexp.errors import StoreError
from abyssexp.experiment.record_file import utc_now
from abyssexp.schemas.process_owner import ProcessOwner, parse_owner
from abyssexp.store.objectstore import ObjectStore
from abyssexp.store.registry import ENTRY_FILE
from abyssexp.store.temporaries import LIVE, OTHER_HOST, STALE

logger = logging.getLogger(__name__)
CLAIM_PREFIX = ".claim-"
CLAIM_SUFFIX = ".json"


def claim_key(type_key: str, name: str) -> str:
    return f"{type_key}/{CLAIM_PREFIX}{name}{CLAIM_SUFFIX}"


@dataclass
class Claim:
    key: str
    owner: ProcessOwner
    took_over: ProcessOwner | None = None


def owner_state(owner: ProcessOwner | None) -> str:
    """``LIVE``, ``STALE`` (this host's process, gone) or ``OTHER_HOST`` (a claim not written by
    abyssexp, ``None``, is left to a person)."""
    if owner is None:
        return OTHER_HOST
    try:
        pid = int(owner["pid"])
        start_text = owner.get("process_start")
        start = int(start_text) if start_text else None
    except (KeyError, TypeError, ValueError):
        return OTHER_HOST  # not a claim abyssexp wrote: left to a person
    state = processes.owner_state(owner.get("host"), pid, start)
    return {processes.GONE: STALE, processes.LIVE: LIVE}.get(state, OTHER_HOST)


def describe(objects: ObjectStore, claim: str, owner: ProcessOwner | None, state: str) -> str:
    if owner is None:
        return f"{objects.url(claim)}: a claim abyssexp did not write; delete it by hand"
    who = f"host {owner.get('host')}, pid {owner.get('pid')}, started {owner.get('started')}"
    if state == LIVE:
        return f"{objects.url(claim)} ({who}): a promotion in progress; wait for it to end"
    if state == STALE:
        return f"{objects.url(claim)} ({who}): its process is gone"
    return (
        f"{objects.url(claim)} ({who}): another host's claim; delete that object by hand once "
        f"no promotion runs on {owner.get('host')}"
    )


def take_claim(objects: ObjectStore, type_key: str, name: str) -> Claim:
    """Claim ``<type_key>/<name>/`` for this process, taking over a stale claim.

    Raises:
        StoreError: a live promotion, or another host's, holds the claim.
    """
    key = claim_key(type_key, name)
    pid, start = processes.own_identity()
    owner: ProcessOwner = {
        "host": processes.this_host(),
        "pid": pid,
        "started": utc_now(),
        # Text, as every version wrote it: an older abyssexp compares it as a string.
        "process_start": str(start) if start is not None else None,
        "id": uuid.uuid4().hex,
    }
    body = (json.dumps(owner, indent=2) + "\n").encode()
    for _ in range(5):
        if objects.create(key, body):
            return Claim(key, owner)
        got = objects.read_tagged(key)
        if got is None:
            continue  # released between the two requests: try to create it again
        held = parse_owner(got[0])
        state = owner_state(held)
        if state != STALE:
            raise StoreError(
                f"{objects.url(f'{type_key}/{name}')}: claimed by {describe(objects, key, held, state)}"
            )
        if objects.replace(key, body, got[1]):
            return Claim(key, owner, took_over=held)
    raise StoreError(f"{objects.url(key)}: changed hands at every try; try again")


def release_claim(objects: ObjectStore, claim: Claim) -> None:
    """Delete the claim if it is still this one's."""
    raw = objects.read(claim.key)
    owner = parse_owner(raw) if raw is not None else None
    if owner is not None and owner.get("id") == claim.owner.get("id"):
        objects.delete([claim.key])


def remove_uncommitted(objects: ObjectStore, prefix: str) -> list[str]:
    """Delete every object under ``prefix/`` unless its entry exists; returns the keys deleted.
    Only the holder of the prefix's claim calls this."""
    keys = [f"{prefix}/{k}" for k in objects.list(prefix)]
    if f"{prefix}/{ENTRY_FILE}" in keys:
        return []
    objects.delete(keys)
    return keys


@contextmanager
def claimed_prefix(objects: ObjectStore, type_key: str, name: str) -> Iterator[Claim]:
    """Hold the claim on ``<type_key>/<name>/`` (removing a dead promotion's uploads first).

    When the body raises, the uploads are removed unless the entry was written; either way the
    claim is released at the end. A kill leaves the claim and the uploads: stale, for the next
    promotion of that name or ``store repair`` to remove.
    """
    claim = take_claim(objects, type_key, name)
    prefix = f"{type_key}/{name}"
    try:
        remove_uncommitted(objects, prefix)
        yield claim
    except BaseException:
        _best_effort(remove_uncommitted, objects, prefix)
        raise
    finally:
        _best_effort(release_claim, objects, claim)


def _best_effort(cleanup: Callable[..., object], *args: Any) -> None:
    """Clean up after a failure without hiding it: what is left (the store unreachable?) is a
    stale claim for the next promotion or ``store repair``."""
    try:
        cleanup(*args)
    except StoreError as exc:
        logger.warning("%s; left for `abyssexp store repair`", exc)

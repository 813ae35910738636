"""``abyssexp store repair`` on an object store: rebuild ``registry.json`` from the entries and
clean up what interrupted promotions left.

From one listing of the store it:

* deletes the claims of committed promotions (a kill after the commit) unless their process
  still runs;
* takes over each stale claim of an uncommitted promotion (this host's, its process gone), which
  removes that promotion's uploads, then releases it; reports the others (live ones, and another
  host's, which are never removed automatically);
* reports objects under ``<project>/<type>/<name>/`` with neither an entry nor a claim (left
  alone: abyssexp did not leave them);
* indexes every entry that matches its manifest and its location, keeps a registry that does
  not parse as ``registry.json.broken-<UTC time>`` and writes the rebuilt registry by
  compare-and-swap (``store.remote_registry``), with the same alias rules as a folder store;
* records promotions missing from experiment records reachable from here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from abyssexp.config import StoreURL
from abyssexp.errors import ExperimentStateError, StoreError
from abyssexp.schemas.process_owner import parse_owner
from abyssexp.schemas.registry import RegistryRow
from abyssexp.store.manifest import MANIFEST
from abyssexp.store.objectstore import ObjectStore, connect
from abyssexp.store.promotion import model_name
from abyssexp.store.registry import (
    ENTRY_FILE,
    LOCK_TIMEOUT_S,
    REGISTRY_FILE,
    EntryUnreadableError,
    RegistryUnreadableError,
    parse_registry,
    row_of,
)
from abyssexp.store.remote_claims import (
    CLAIM_PREFIX,
    CLAIM_SUFFIX,
    claimed_prefix,
    describe,
    owner_state,
)
from abyssexp.store.remote_promote import parse_manifest, read_entry
from abyssexp.store.remote_registry import ENTRY_KEY_RE, encode, unreadable
from abyssexp.store.repair import RepairReport, complete_record, rebuild_registry
from abyssexp.store.temporaries import LIVE, STALE

CLAIM_RE = re.compile(
    rf"^(?P<type_key>[^/]+/[^/]+)/{re.escape(CLAIM_PREFIX)}(?P<name>[^/]+){re.escape(CLAIM_SUFFIX)}$"
)


def repair_object_store(store: StoreURL, scratch: Path) -> RepairReport:
    """See the module docstring."""
    objects = connect(store)
    report = RepairReport(store)
    listing = set(objects.list())
    _clean_claims(objects, listing, report)
    _report_strays(objects, listing, report)
    found = []
    for key in sorted(k for k in listing if ENTRY_KEY_RE.match(k)):
        checked = _checked_entry(objects, key.rpartition("/")[0], listing, report)
        if checked is not None:
            found.append((store.child(key.rpartition("/")[0]), *checked))
    _rewrite_registry(objects, [row_of(entry, where) for where, entry, _ in found], report)
    for where, entry, manifest in found:
        digest = manifest.get(model_name(Path(str(entry.get("checkpoint")))))
        complete_record(where, entry, report, scratch, digest)
    return report


def _clean_claims(objects: ObjectStore, listing: set[str], report: RepairReport) -> None:
    for match in sorted(filter(None, map(CLAIM_RE.match, listing)), key=lambda m: m.string):
        key, type_key, name = match.string, match["type_key"], match["name"]
        raw = objects.read(key)
        if raw is None:
            continue  # released since the listing
        owner = parse_owner(raw)
        state = owner_state(owner)
        why = None
        committed = f"{type_key}/{name}/{ENTRY_FILE}" in listing
        if committed and state != LIVE:
            objects.delete([key])
            report.temporaries_removed.append(f"{objects.url(key)} (of a committed promotion)")
            continue
        if state == STALE:
            try:
                with claimed_prefix(objects, type_key, name):
                    pass  # taking the claim over removes the dead promotion's uploads
                report.temporaries_removed.append(objects.url(f"{type_key}/{name}/"))
                continue
            except StoreError as exc:
                why, state = str(exc), LIVE
        report.temporaries_left.append(
            {
                "path": objects.url(key),
                "state": state,
                "host": owner.get("host") if owner else None,
                "pid": owner.get("pid") if owner else None,
                "started": owner.get("started") if owner else None,
                "why": why or describe(objects, key, owner, state),
            }
        )


def _report_strays(objects: ObjectStore, listing: set[str], report: RepairReport) -> None:
    prefixes = {"/".join(k.split("/")[:3]) for k in listing if k.count("/") >= 3}
    for prefix in sorted(prefixes):
        type_key, _, name = prefix.rpartition("/")
        if f"{prefix}/{ENTRY_FILE}" in listing or (
            f"{type_key}/{CLAIM_PREFIX}{name}{CLAIM_SUFFIX}" in listing
        ):
            continue
        report.problems.append(
            f"{objects.url(prefix)}/: objects without {ENTRY_FILE} or a claim (not left by a "
            "promotion abyssexp runs or ran); left alone, remove them by hand"
        )


def _checked_entry(
    objects: ObjectStore, prefix: str, listing: set[str], report: RepairReport
) -> tuple[Mapping[str, Any], dict[str, str]] | None:
    """The entry and manifest of the promotion at ``prefix``; None (reported) if unreadable."""
    where = objects.url(prefix)
    try:
        entry = read_entry(objects, prefix)
    except EntryUnreadableError as exc:
        report.problems.append(f"{exc}; {where} left out of the registry")
        return None
    if (entry["project"], entry["type"], entry["name"]) != tuple(prefix.split("/")):
        report.problems.append(
            f"{where}: its entry.json names {entry['project']}/{entry['type']}/{entry['name']} "
            "(copied by hand?); left out of the registry"
        )
        return None
    manifest = parse_manifest(objects.read(f"{prefix}/{MANIFEST}") or b"")
    expected = set(manifest) | {MANIFEST}
    present = {k[len(prefix) + 1 :] for k in listing if k.startswith(f"{prefix}/")}
    for relative in sorted(expected - present):
        report.problems.append(f"{where}: missing: {relative}; run `abyssexp verify {where}`")
    for relative in sorted(present - expected):
        report.problems.append(f"{where}: unexpected: {relative}; run `abyssexp verify {where}`")
    return entry, manifest


def _rewrite_registry(objects: ObjectStore, rows: list[RegistryRow], report: RepairReport) -> None:
    """Rebuild the registry from ``rows`` and write it by compare-and-swap."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        got = objects.read_tagged(REGISTRY_FILE)
        old = None
        if got is not None:
            try:
                old = parse_registry(got[0], lambda problem: unreadable(objects, problem))
            except RegistryUnreadableError:
                if report.broken_registry_kept_as is None:
                    report.broken_registry_kept_as = _keep_aside(objects, got[0])
        data = rebuild_registry(old, rows, report)
        if data == old:
            return
        body = encode(data)
        written = (
            objects.replace(REGISTRY_FILE, body, got[1])
            if got is not None
            else objects.create(REGISTRY_FILE, body)
        )
        if written:
            return
        if time.monotonic() > deadline:
            raise ExperimentStateError(
                f"{objects.url(REGISTRY_FILE)}: changed by other processes at every try for "
                f"{LOCK_TIMEOUT_S:.0f} s; run `abyssexp store repair` again"
            )
        time.sleep(0.2)


def _keep_aside(objects: ObjectStore, raw: bytes) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for number in range(100):
        key = f"{REGISTRY_FILE}.broken-{stamp}" + (f"-{number}" if number else "")
        if objects.create(key, raw):
            return objects.url(key)
    raise StoreError(f"{objects.url(REGISTRY_FILE)}: could not keep the broken registry aside")

"""``logs/.summary.json``: what ``compare`` needs from an experiment's history.csv and
provenance.json, so that comparing 20,000 experiments opens one small file each instead of
parsing two (and no longer grows with the provenance's package lists and train runs).

A summary is a copy, never the truth. For each source it keeps the fingerprint the source had
when the summary was made: size, mtime, ctime, inode and a BLAKE2 hash of its bytes. It is used
only while every source still has that fingerprint (one ``os.stat`` each), so any edit, restore,
deletion or atomic rewrite of a source makes it stale; ctime cannot be set by hand, so a file
put back with its old size and mtime is still seen as changed. A source whose time stamps are
within ``RACY_NS`` of the summary's own could have changed again inside one tick of the file
system's clock without its stat changing: for those the bytes are read and their hash compared
(git's "racily clean" files). A summary that is missing, stale, of another version or does not
parse is rebuilt from the sources, so it never changes what ``compare`` shows.

A summary is also a claim: it is read only as a regular file (never through a symlink, never a
FIFO or device) of at most ``MAX_SUMMARY_BYTES``, through its schema (``schemas/summary.py``:
strict types, no unknown keys); anything else is rebuilt. Its sources are read as bounded regular
files too. Stat-based freshness is trusted as git trusts its index: whoever can write
``logs/.summary.json`` can as easily edit history.csv (docs/comparing.md, "What the summary
trusts").

Writers of the sources rewrite it atomically right after theirs (``refresh_summary``: the
history writer every epoch, ``new`` and ``train``'s provenance); ``compare`` writes back one it
had to rebuild when it can (best-effort: a read-only scratch is read as it is).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import sys
import time
from typing import Any, cast

from pydantic import ValidationError

from abyssexp.experiment.history import parse_history
from abyssexp.experiment.layout import (
    HISTORY_FILE,
    LOGS_DIR,
    PROVENANCE_FILE,
    SUMMARY_FILE,
    ExperimentPaths,
)
from abyssexp.jsonio import open_regular, read_cache_bytes
from abyssexp.metric_direction import lower_is_better
from abyssexp.schemas.provenance import latest_section, parse_provenance
from abyssexp.schemas.summary import (
    MAX_SUMMARY_BYTES,
    SUMMARY_ADAPTER,
    SUMMARY_VERSION,
    BestValidation,
    Fingerprint,
    ProvenanceDigest,
    Summary,
    SummaryDigest,
)

#: history.csv of a long run with many columns is MBs; one past this is not read (counts as
#: unreadable, as a FIFO or a device in its place does).
MAX_SOURCE_BYTES = 256 << 20
#: Sources changed this close to the summary (or to now, when writing one back) are re-hashed:
#: a generous bound on a file system's time-stamp tick (1-2 s on some) plus the time to write.
RACY_NS = 3_000_000_000
_log = logging.getLogger(__name__)


def for_best_validation(key: str) -> bool:
    return key == "epoch" or key.startswith("val_")


def best_validation(history: dict[str, list[float]]) -> dict[str, BestValidation]:
    """Best value and its epoch of every ``val_*`` column."""
    epochs = history.get("epoch") or []
    best: dict[str, BestValidation] = {}
    for key, values in history.items():
        finite = [(v, i) for i, v in enumerate(values) if not math.isnan(v)]
        if not key.startswith("val_") or not finite:
            continue
        value, index = (min if lower_is_better(key) else max)(finite)
        recorded = epochs[index] if index < len(epochs) else math.nan
        epoch = int(recorded) if math.isfinite(recorded) else index + 1
        best[key] = {"value": value, "epoch": epoch}
    return best


def provenance_summary(provenance: dict[str, Any]) -> ProvenanceDigest:
    """What ``compare`` shows of a provenance section, each field of the type the summary's
    schema wants (None where provenance.json holds something else: it is read from a file)."""
    git = _of(dict, provenance.get("git")) or {}
    datasets = {
        str(split): _of(str, (_of(dict, entry) or {}).get("sha256"))
        for split, entry in (_of(dict, provenance.get("datasets")) or {}).items()
    }
    if _of(str, provenance.get("category_map_sha256")):
        datasets["category_map"] = provenance["category_map_sha256"]
    gpus = _of(list, provenance.get("gpus"))
    return {
        "commit": _of(str, git.get("commit")),
        "branch": _of(str, git.get("branch")),
        "dirty": _of(bool, git.get("dirty")),
        "host": _of(str, provenance.get("host")),
        "gpus": gpus if gpus is not None and all(isinstance(g, str) for g in gpus) else None,
        "datasets": datasets,
    }


def _of(kind: type, value: Any) -> Any:
    return value if isinstance(value, kind) else None


def _digest(history: bytes | None, provenance: bytes | None) -> SummaryDigest:
    """What ``compare`` shows from the two sources (missing or unreadable ones count as empty,
    as ``compare`` always read them)."""
    columns: dict[str, list[float]] = {}
    if history is not None:
        try:
            columns = parse_history(history.decode("utf-8"), for_best_validation)
        except (UnicodeDecodeError, csv.Error):
            columns = {}
    data = parse_provenance(provenance) if provenance is not None else None
    return {
        "validation": best_validation(columns),
        "provenance": provenance_summary(latest_section(data)),
    }


#: Paths below an experiment folder, joined as text once: no ``Path`` work per experiment.
_TAILS = {
    "history": os.sep + os.path.join(LOGS_DIR, HISTORY_FILE),
    "provenance": os.sep + os.path.join(LOGS_DIR, PROVENANCE_FILE),
}
_SUMMARY_TAIL = os.sep + os.path.join(LOGS_DIR, SUMMARY_FILE)


def _sources(root: str) -> dict[str, str]:
    return {key: root + tail for key, tail in _TAILS.items()}


def _read_all(fd: int, size: int) -> bytes:
    """The whole file up to ``MAX_SOURCE_BYTES + 1``: one read of its size (a buffer of 1 MiB
    would cost more than the read), then more while it grows."""
    chunks, total = [], 0
    while total <= MAX_SOURCE_BYTES and (chunk := os.read(fd, size + 1)):
        chunks.append(chunk)
        total += len(chunk)
        size = 1 << 16
    return b"".join(chunks)


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _read_source(path: str) -> tuple[Fingerprint | None, bytes | None, bool]:
    """(fingerprint, bytes, readable) of one source, the fingerprint taken from the open file
    before its bytes are read (a change after that makes the fingerprint stale, never the
    other way round); a missing file is ``(None, None, True)``, one that is not a regular file
    of at most ``MAX_SOURCE_BYTES`` unreadable."""
    try:
        fd, stat = open_regular(path, MAX_SOURCE_BYTES)
    except FileNotFoundError:
        return None, None, True
    except OSError:
        return None, None, False
    try:
        data = _read_all(fd, stat.st_size)
    except OSError:
        return None, None, False
    finally:
        os.close(fd)
    if len(data) > MAX_SOURCE_BYTES:
        return None, None, False
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, _hash(data)), data, True


def build_summary(root: str) -> tuple[Summary, bool]:
    """The summary of the experiment folder ``root``, from its sources; and whether it may be
    written (every source readable and none changed within ``RACY_NS`` of now)."""
    fingerprints: dict[str, Fingerprint | None] = {}
    contents: dict[str, bytes | None] = {}
    writable = True
    for key, path in _sources(root).items():
        fingerprints[key], contents[key], readable = _read_source(path)
        writable = writable and readable
    recent = time.time_ns() - RACY_NS
    if any(f and max(f[1], f[2]) >= recent for f in fingerprints.values()):
        writable = False
    shown = _digest(contents["history"], contents["provenance"])
    summary: Summary = {
        "summary_version": SUMMARY_VERSION,
        "sources": {"history": fingerprints["history"], "provenance": fingerprints["provenance"]},
        "validation": shown["validation"],
        "provenance": shown["provenance"],
    }
    return summary, writable


def _check(summary: Summary, made_ns: int, root: str) -> str | None:
    """``"clean"`` when every source still has the fingerprint ``summary`` (validated by its
    schema) recorded (``made_ns``: the summary file's own mtime), ``"rehashed"`` when that took
    reading a source changed close to the summary, None when it is stale."""
    recorded = cast(dict[str, Any], summary["sources"])
    state = "clean"
    for key, path in _sources(root).items():
        expected = recorded.get(key, False)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            if expected is not None:
                return None
            continue
        except OSError:
            return None
        if not isinstance(expected, tuple | list):
            return None
        expected = tuple(expected)
        if (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino) != expected[:4]:
            return None
        if max(stat.st_mtime_ns, stat.st_ctime_ns) >= made_ns - RACY_NS:
            if _read_source(path)[0] != expected:
                return None
            state = "rehashed"
    return state


def read_summary(root: str) -> tuple[Summary | None, str | None]:
    """The experiment's summary and ``_check``'s verdict on it; (None, None) when it is
    missing, stale, not a regular file within ``MAX_SUMMARY_BYTES`` (a symlink, a FIFO, a 2 GB
    file) or not valid by its schema (``schemas/summary.py``)."""
    read = read_cache_bytes(root + _SUMMARY_TAIL, MAX_SUMMARY_BYTES)
    if read is None:
        return None, None
    try:
        summary = SUMMARY_ADAPTER.validate_json(read[1])
    except (ValidationError, ValueError, RecursionError):
        return None, None
    state = _check(summary, read[0].st_mtime_ns, root)
    return (summary, state) if state else (None, None)


def write_summary(root: str, summary: Summary) -> bool:
    """Write ``summary`` atomically into ``root``'s logs folder if there is one; False when it
    could not be written (read-only, not ours): the caller goes on without it."""
    from abyssexp.atomic import atomic_write_text
    from abyssexp.errors import AbyssExpError

    logs = os.path.join(root, LOGS_DIR)
    if os.path.islink(logs) or not os.access(logs, os.W_OK):  # one call, not a failed write
        return False
    try:
        text = json.dumps(summary) + "\n"  # not fsynced: a summary lost to a power cut is rebuilt
        atomic_write_text(os.path.join(logs, SUMMARY_FILE), text, durable=False)
    except (OSError, AbyssExpError) as exc:
        _log.debug("summary of %s not written: %s", root, exc)
        return False
    return True


def load_summary(root: str) -> SummaryDigest:
    """What ``compare`` shows from the experiment's history and provenance (``validation`` and
    ``provenance``): from its summary when that is current, else from the sources, the summary
    then written back when that is safe (also one that was current only after re-hashing a
    source, so that the next reader need not)."""
    return digest(current_summary(root))


def current_summary(root: str) -> Summary:
    """``load_summary``'s summary whole, with its sources' fingerprints (the index keeps their
    stats beside what it shows)."""
    summary, state = read_summary(root)
    if summary is None or state != "clean":
        summary, writable = build_summary(root)
        if writable:
            write_summary(root, summary)
    return summary


def digest(summary: Summary) -> SummaryDigest:
    """What ``compare`` shows of a summary, its keys shared between experiments."""
    return {
        "validation": _shared(summary["validation"]),
        "provenance": _shared(summary["provenance"]),
    }


def _shared(value: Any) -> Any:
    """``value`` with its dicts' keys interned: 20,000 experiments then hold one ``"commit"``
    or ``"val_loss"`` each, not 20,000 (about 6 MiB at that size)."""
    if isinstance(value, dict):
        return {sys.intern(key): _shared(item) for key, item in value.items()}
    return value


def refresh_summary(paths: ExperimentPaths) -> None:
    """Rewrite the summary after a source changed: called by every writer of a source, right
    after its own atomic write. Best-effort: a summary that could not be written is stale, and
    readers reject a stale one."""
    summary, _ = build_summary(str(paths.root))
    write_summary(str(paths.root), summary)

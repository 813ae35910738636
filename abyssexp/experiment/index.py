"""``<scratch>/PROJECT/TYPE/.index.json``: what ``list``, ``--filter``, ``--changed`` and
``compare`` need from every experiment of one type folder, so that listing 20,000 experiments
costs a stat of each one's sources instead of reading and parsing its files.

One index per type folder, not per scratch: ``list PROJECT`` and ``compare p/t/*`` read only the
folders they name, an index stays bounded by one type's experiments, and people training in
different types do not rewrite each other's index (docs/comparing.md, "The index").

The index is a cache, never the truth: each experiment's files stay where they are and decide.
An entry has three parts, each with the stat (size, mtime, ctime, inode) of the sources it came
from: the listing row (record.json), the flattened params as a difference from the index's base
(models/params.json) and ``compare``'s summary (logs/history.csv, logs/provenance.json). A part
is used only while every source still has that stat (one ``os.stat`` each, only of the sources
the command needs); otherwise it is made again from the source and the index written back. A
part is kept only when its sources were last changed more than ``RACY_NS`` before they were
stat'ed: a later change then has a later ctime, which nobody can set by hand (git's "racily
clean" entries, solved by not keeping them).

The index is also a claim: it is read only as a regular file (never through a symlink) of at most
``MAX_INDEX_BYTES``, through its schema (``schemas/index.py``), and a params delta is decoded and
checked before use; anything else is rebuilt. It is written atomically (a temporary file renamed
over it: two writers never tear it, the last one wins, and what the other made is made again by
the next reader) and never when the type folder is a symlink or not writable.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from abyssexp.experiment.jobs import apply_job_states
from abyssexp.experiment.layout import (
    ARCHIVE_DIR,
    HISTORY_FILE,
    LOGS_DIR,
    MODELS_DIR,
    PARAMS_FILE,
    PROVENANCE_FILE,
    RECORD_FILE,
)
from abyssexp.experiment.list_rows import (
    ListRow,
    check_sort_key,
    collector_paused,
    experiment_folders,
    located_row,
    parse_statuses,
    read_params_dict,
    record_fields,
    sort_rows,
)
from abyssexp.experiment.param_filters import Delta, delta_of, flatten_params
from abyssexp.experiment.record_file import LoadedRecord, load_record
from abyssexp.experiment.summary_cache import current_summary, digest
from abyssexp.jsonio import read_cache_bytes
from abyssexp.schemas.index import (
    INDEX_ADAPTER,
    INDEX_VERSION,
    MAX_INDEX_BYTES,
    PARAMS_PART_ADAPTER,
    SUMMARY_PART_ADAPTER,
    TIMES_KEYS,
)
from abyssexp.schemas.summary import SummaryDigest

INDEX_FILE = ".index.json"
#: Sources changed this close to the moment they were stat'ed are not kept in the index: a
#: generous bound on a file system's time-stamp tick (1-2 s on some) plus the time to write.
RACY_NS = 3_000_000_000
_log = logging.getLogger(__name__)

_RECORD = os.sep + RECORD_FILE
_PARAMS = os.sep + os.path.join(MODELS_DIR, PARAMS_FILE)
_HISTORY = os.sep + os.path.join(LOGS_DIR, HISTORY_FILE)
_PROVENANCE = os.sep + os.path.join(LOGS_DIR, PROVENANCE_FILE)

Stat = tuple[int, int, int, int]


@dataclass
class Indexed:
    """One experiment as the index gives it: its listing row, and when asked for, its params
    (``flat``), its record's times and its summary (``compare``)."""

    row: ListRow
    times: dict[str, Any] | None = None
    flat: Delta | None = None
    summary: SummaryDigest | None = None


def _stat(path: str) -> Stat | None:
    """The stat an entry keeps of ``path``; None when it is missing. Other errors propagate:
    a source that cannot be stat'ed is read (and reported) as without an index."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _stable(stat: Stat | None, now_ns: int) -> bool:
    """Whether a source's stat may be kept: missing, or last changed more than ``RACY_NS``
    before ``now_ns`` (taken before any stat), so a later change has a later ctime."""
    return stat is None or max(stat[1], stat[2]) < now_ns - RACY_NS


def _load(path: str) -> dict[str, Any] | None:
    """The index at ``path`` as its schema validates it; None when it is missing, not a regular
    file within its bound, damaged or of another version."""
    read = read_cache_bytes(path, MAX_INDEX_BYTES)
    if read is None:
        return None
    try:
        return INDEX_ADAPTER.validate_json(read[1])  # type: ignore[return-value]  # the adapter validates to the file's TypedDict
    except (ValidationError, ValueError, RecursionError):
        return None


class _Folder:
    """One type folder's index while a command reads it: its entries (validated), the ones made
    again, and whether it must be written back."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        loaded = _load(folder + os.sep + INDEX_FILE)
        self.base_text: str = loaded["base"] if loaded else "{}"
        self.entries: dict[str, dict[str, Any]] = dict(loaded["entries"]) if loaded else {}
        self.seen: set[str] = set()
        self.dirty = loaded is None

    def drop_params(self) -> None:
        """Forget every params part (their base is not the command's)."""
        for name, entry in self.entries.items():
            if entry["params"] is not None:
                self.entries[name] = {**entry, "params": None}
                self.dirty = True

    def keep(self, name: str, part: str, value: Any, old: Any) -> None:
        """Store ``value`` as the entry's ``part`` (None: not kept) if it is not ``old``."""
        if value is old:
            return
        entry = self.entries.get(name) or {"record": None, "params": None, "summary": None}
        self.entries[name] = {**entry, part: value}
        self.dirty = True

    def write(self, complete: bool) -> None:
        """Write the index back when it changed (``complete``: the command saw every experiment
        of the folder, so entries of folders no longer there go). Best-effort: a read-only or
        symlinked folder is left as it is."""
        if complete and self.entries.keys() - self.seen:
            self.entries = {k: v for k, v in self.entries.items() if k in self.seen}
            self.dirty = True
        if not self.dirty or os.path.islink(self.folder) or not os.access(self.folder, os.W_OK):
            return
        data = _encoded(self.base_text, self.entries)
        if data is None or len(data) > MAX_INDEX_BYTES:
            return
        from abyssexp.atomic import atomic_write_bytes
        from abyssexp.errors import AbyssExpError

        try:  # not fsynced: an index lost to a power cut is rebuilt
            atomic_write_bytes(self.folder + os.sep + INDEX_FILE, data, durable=False)
        except (OSError, AbyssExpError) as exc:
            _log.debug("index of %s not written: %s", self.folder, exc)


def _encoded(base_text: str, entries: dict[str, dict[str, Any]]) -> bytes | None:
    """The index as UTF-8 JSON. Entries holding text that UTF-8 cannot carry (a lone surrogate
    from a ``\\udc80`` escape) are left out: their experiments are read from their files."""
    index = {"index_version": INDEX_VERSION, "base": base_text, "entries": entries}
    try:
        return json.dumps(index, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        pass
    kept = {}
    for name, entry in entries.items():
        try:
            json.dumps(entry, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            continue
        kept[name] = entry
    try:
        return json.dumps({**index, "entries": kept}, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # the base itself
        return None


class _Reader:
    """The indexes one command reads, the base their params deltas share, and ``now``."""

    def __init__(self) -> None:
        self.now_ns = time.time_ns()
        self.folders: dict[str, _Folder] = {}
        self.base: dict[str, Any] | None = None
        self.base_text: str | None = None

    def folder(self, path: str, params: bool) -> _Folder:
        """The index of the type folder ``path``, its deltas' base made the command's."""
        index = self.folders.get(path)
        if index is None:
            index = self.folders[path] = _Folder(path)
            if params:
                self._share_base(index)
        return index

    def _share_base(self, index: _Folder) -> None:
        if self.base_text is None and index.base_text != "{}":
            try:
                base = json.loads(index.base_text)
            except (ValueError, RecursionError):
                base = None
            if isinstance(base, dict):
                self.base, self.base_text = base, index.base_text
        if self.base_text is not None and index.base_text != self.base_text:
            index.drop_params()
            index.base_text = self.base_text

    def record(
        self, index: _Folder, name: str, root: str
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The row's record fields and times (arrays: ``schemas/index.py``' ``Row`` and
        ``Times``), from the entry while record.json has its stat."""
        old = (index.entries.get(name) or {}).get("record")
        try:
            stat = _stat(root + _RECORD)
        except OSError:
            stat = old = None
        if old is not None and stat is not None and old[0] == stat:
            return old[1], old[2]
        loaded = load_record(Path(root + _RECORD))
        fields, times = record_fields(loaded), _times(loaded)
        part = None
        if loaded.record is not None and stat is not None and _stable(stat, self.now_ns):
            part = (stat, fields, times)
        index.keep(name, "record", part, old)
        return fields, times

    def params(self, index: _Folder, name: str, root: str) -> Delta:
        """The flattened params, from the entry while params.json has its stat."""
        text = (index.entries.get(name) or {}).get("params")
        try:
            stat, keep = _stat(root + _PARAMS), True
        except OSError:
            stat, keep = None, False
        part = _decoded(PARAMS_PART_ADAPTER, text) if keep and text is not None else None
        if part is not None and part["stat"] == stat and self.base is not None:
            return Delta(self.base, part["set"], frozenset(part["unset"]))
        flat = flatten_params(read_params_dict(root))
        if self.base is None:
            self.base, self.base_text = flat, json.dumps(flat, ensure_ascii=False)
            index.base_text = self.base_text
        set_, unset = delta_of(flat, self.base)
        stored = {"stat": stat, "set": set_, "unset": unset}
        keep = keep and _stable(stat, self.now_ns)
        index.keep(name, "params", json.dumps(stored, ensure_ascii=False) if keep else None, text)
        return Delta(self.base, set_, frozenset(unset))

    def summary(self, index: _Folder, name: str, root: str) -> SummaryDigest:
        """``compare``'s summary, from the entry while history.csv and provenance.json have
        their stats; else from the summary file (``summary_file``), which checks its own."""
        text = (index.entries.get(name) or {}).get("summary")
        try:
            stats, keep = (_stat(root + _HISTORY), _stat(root + _PROVENANCE)), True
        except OSError:
            stats, keep = (None, None), False
        part = _decoded(SUMMARY_PART_ADAPTER, text) if keep and text is not None else None
        if part is not None and (part["history"], part["provenance_file"]) == stats:
            # pydantic already shares the keys it reads (its string cache): no interning
            return {"validation": part["validation"], "provenance": part["provenance"]}
        summary = current_summary(root)
        made = tuple(
            None if f is None else tuple(f[:4])
            for f in (summary["sources"].get(key) for key in ("history", "provenance"))
        )
        keep = keep and made == stats and all(_stable(s, self.now_ns) for s in stats)
        stored = {
            "history": stats[0],
            "provenance_file": stats[1],
            "validation": summary["validation"],
            "provenance": summary["provenance"],
        }
        index.keep(name, "summary", json.dumps(stored, ensure_ascii=False) if keep else None, text)
        return digest(summary)


def _decoded(adapter: Any, text: str) -> dict[str, Any] | None:
    """A part's JSON text as its schema validates it; None when it does not."""
    try:
        return cast(dict[str, Any], adapter.validate_json(text))
    except (ValidationError, ValueError, RecursionError):
        return None


def _times(loaded: LoadedRecord) -> tuple[Any, ...]:
    """The record's times in ``TIMES_KEYS`` order (the index's ``Times`` array)."""
    record = loaded.record
    if record is None:
        return (None, None, None, None)
    return (record.started, record.finished, record.train_seconds, record.train_images)


def indexed(
    found: Iterable[tuple[str, str, str, str, int | None]],
    params: bool = False,
    summary: bool = False,
    complete: bool = False,
    root: Path | None = None,
) -> list[Indexed]:
    """Each experiment of ``found`` (project, type, type folder, name, number: as
    ``experiment_list.experiment_folders`` gives them) as the index gives it: its row, and
    its params (``params``) or its times and summary (``summary``) when asked for; every index
    that changed is written back (``complete``: ``found`` is every experiment of its type
    folders, so entries of experiments no longer there go; ``root``: the scratch, or its
    archive, the only place whose type folders get an index: a folder given by its path
    elsewhere is read without one).

    The same rows, params and summaries as reading every experiment's files: a part of an entry
    is used only while its sources have the stat it recorded.
    """
    reader = _Reader()
    result = []
    for project, experiment_type, parent, name, number in found:
        folder = parent + os.sep + name
        index = reader.folder(parent, params)
        index.seen.add(name)
        fields, times = reader.record(index, name, folder)
        item = Indexed(located_row(project, experiment_type, name, number, folder, fields))
        if params:
            item.flat = reader.params(index, name, folder)
        if summary:
            item.times = dict(zip(TIMES_KEYS, times, strict=True))
            item.summary = reader.summary(index, name, folder)
        result.append(item)
    for index in reader.folders.values():
        if root is not None and Path(index.folder).parent.parent == root:
            index.write(complete)
    return result


def list_experiments(
    scratch: Path,
    project: str | None = None,
    experiment_type: str | None = None,
    status: str | None = None,
    sort: str = "created",
    tags: list[str] | None = None,
    archived: bool = False,
    params: bool = False,
) -> list[ListRow]:
    """Rows for ``abyssexp list``, from each type folder's index (``experiment/index.py``)
    where its entries are current, else from the experiments' files.

    Args:
        scratch: the scratch root.
        project: project name or glob, or ``PROJECT/TYPE[/NNN]`` (the REF form); None for all.
        experiment_type: experiment type or glob; None for all.
        status: comma-separated statuses to keep (see ``abyssexp.schemas.record.Status``).
        sort: one of ``SORT_KEYS``, prefixed with ``-`` to reverse.
        tags: keep experiments carrying every one of these tags.
        archived: list ``<scratch>/.archive/`` instead of the scratch tree.
        params: give each row its flattened params as ``row["_flat"]`` (for ``--filter`` and
            ``--changed``, which take them off).

    Returns:
        One dict per experiment, sorted.

    Raises:
        InvalidInputError: an unknown status or sort key (the valid ones are listed).
    """
    from abyssexp.experiment.refs import matches_experiment, split_list_ref

    project, experiment_type, one = split_list_ref(project, experiment_type)
    wanted = parse_statuses(status) if status else None
    check_sort_key(sort)
    root = scratch / ARCHIVE_DIR if archived else scratch
    with collector_paused():
        found = experiment_folders(root, project, experiment_type)
        rows = _indexed_rows(found, params, root)
    apply_job_states(rows)  # one squeue/sacct for every row with a Slurm job
    if wanted:
        rows = [row for row in rows if row["status"] in wanted]
    if tags:
        rows = [row for row in rows if set(tags) <= set(row["tags"])]
    if one is not None:
        rows = [row for row in rows if matches_experiment(row["name"], one)]
    return sort_rows(rows, sort)


def _indexed_rows(
    found: Iterator[tuple[str, str, str, str, int | None]], params: bool, root: Path
) -> list[ListRow]:
    items = indexed(found, params=params, complete=True, root=root)
    if params:
        for item in items:
            if item.flat is not None:
                item.row["_flat"] = item.flat
    return [item.row for item in items]

"""Aliases (``production``, ``candidate``...) and their history.

An alias names one promoted model per project/type; it moves when a newer model is promoted with
it or with ``abyssexp alias set``. Every move is appended to ``<store>/alias-history.jsonl`` (who,
when, from which model to which, by what command), one JSON line each, fsynced, never rewritten:
``promoted --history`` reads it. On an object store (no appends there) each registry change that
moves aliases writes one object ``alias-history/<UTC time>-<random>.jsonl`` of such lines, and
the history is those objects in name order. ``store repair`` rebuilds the registry from the promoted folders
and leaves the history as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abyssexp.atomic import flush
from abyssexp.errors import InvalidInputError, StoreError
from abyssexp.jsonio import read_input_bytes
from abyssexp.processes import this_host
from abyssexp.schemas.alias_history import AliasMove, parse_moves
from abyssexp.schemas.registry import Registry

HISTORY_FILE = "alias-history.jsonl"


def alias_moves(before: dict[str, Any], after: dict[str, Any], via: str) -> list[dict[str, Any]]:
    """One history line per alias whose model changed between ``before`` and ``after``."""
    from abyssexp.experiment.provenance import current_user
    from abyssexp.experiment.record_file import utc_now

    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, {}), after.get(key, {})
        for alias in sorted(set(old) | set(new)):
            if old.get(alias) != new.get(alias):
                lines.append(
                    {
                        "time": utc_now(),
                        "location": key,
                        "alias": alias,
                        "from": old.get(alias),
                        "to": new.get(alias),
                        "user": current_user(),
                        "host": this_host(),
                        "via": via,
                    }
                )
    return lines


def record_moves(store: Path, before: dict[str, Any], after: dict[str, Any], via: str) -> None:
    """Append one history line per alias whose model changed between ``before`` and ``after``."""
    lines = alias_moves(before, after, via)
    if not lines:
        return
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    with open(store / HISTORY_FILE, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        flush(handle.fileno())


def read_history(store: Path) -> list[AliasMove]:
    """Every alias move of a folder store, oldest first (an object store's:
    ``remote_registry.read_moves``).

    A last line torn by a kill mid-append is skipped; any other line that does not parse stops
    with the line number.
    """
    path = store / HISTORY_FILE
    if not path.is_file():
        return []
    text = read_input_bytes(path, str(path), StoreError).decode("utf-8", "replace")
    try:
        return list(parse_moves(text, str(path), "fix or remove that line", torn_last=True))
    except ValueError as exc:
        raise StoreError(str(exc)) from None


def filter_moves(moves: list[dict[str, Any]], reference: str | None) -> list[dict[str, Any]]:
    """The moves of ``reference`` (``ALIAS`` or ``PROJECT/TYPE@ALIAS``; all when None)."""
    location, alias = None, reference
    if reference and "@" in reference:
        location, _, alias = reference.partition("@")
    return [
        move
        for move in moves
        if (not alias or move.get("alias") == alias)
        and (not location or move.get("location") == location)
    ]


def setting(
    location: str, alias: str, name: str, accepted: frozenset[str] = frozenset()
) -> Callable[[Registry], None]:
    """The registry change that points ``alias`` of ``location`` (``project/type``) at the
    promoted model ``name`` (``StoreBackend.set_alias``). The model's blocking caveats (copied
    into its entry at promotion) must each be named in ``accepted``, as for ``promote``: an
    alias is a decision taken on the number.

    Raises:
        InvalidInputError: a bad alias (at once), or ``name`` not promoted there (when applied).
        BlockingCaveatsError: a blocking caveat ``accepted`` does not name (when applied).
    """
    from abyssexp.experiment.caveats import check_accepted
    from abyssexp.experiment.naming import validate_part

    validate_part(alias, "alias")

    def change(data: Registry) -> None:
        project, _, experiment_type = location.partition("/")
        rows = {
            m["name"]: m
            for m in data["models"]
            if (m.get("project"), m.get("type")) == (project, experiment_type)
        }
        if name not in rows:
            raise InvalidInputError(
                f"alias set: {name!r} is not promoted in {location} "
                f"(promoted: {', '.join(sorted(rows)[-5:]) or 'none'})"
            )
        caveats = rows[name].get("caveats")
        if isinstance(caveats, dict):
            check_accepted(f"{location}/{name}", caveats, accepted, "alias set")
        data["aliases"].setdefault(location, {})[alias] = name

    return change


def removing(location: str, alias: str) -> Callable[[Registry], None]:
    """The registry change that removes ``alias`` of ``location`` (``StoreBackend.remove_alias``);
    the models stay promoted."""

    def change(data: Registry) -> None:
        names = data["aliases"].get(location, {})
        if alias not in names:
            raise InvalidInputError(
                f"alias rm: no alias {alias!r} in {location} "
                f"(aliases: {', '.join(sorted(names)) or 'none'})"
            )
        del names[alias]

    return change

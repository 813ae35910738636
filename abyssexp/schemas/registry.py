"""The schema of the store's ``registry.json``: one row per promoted folder and the aliases.

A row is the folder's ``entry.json`` (``schemas/store_entry.py``) plus ``path``. ``path`` and
``name`` are what every reader needs; the fields a listing reads (project, type, checkpoint,
promoted, bytes, tests) have their types when present, a missing one being unknown to the
readers (rows written by any earlier abyssexp read). Unknown keys are kept: ``store repair``
copies an entry into its row whole. Types are strict: ``"12"`` is not a byte count and ``true``
not an accuracy. ``store/registry.py`` is the one reader (``parse_registry``).
"""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from abyssexp.schemas.store_entry import PromotionFields

REGISTRY_VERSION = 1


@with_config(ConfigDict(extra="allow", strict=True))
class ConditionMetrics(TypedDict):
    """One test condition of a row: its metrics by name; ``accuracy`` (what ``promoted``
    shows) is a number when present."""

    accuracy: NotRequired[float | None]


@with_config(ConfigDict(extra="allow", strict=True))
class RegistryRow(PromotionFields):
    """One promoted folder: its entry's fields plus ``path`` (relative to the store root on
    disk); project and type may be missing from rows of an early registry."""

    path: str
    name: str
    project: NotRequired[str | None]
    type: NotRequired[str | None]
    tests: NotRequired[dict[str, ConditionMetrics] | None]


@with_config(ConfigDict(extra="allow", strict=True))
class Registry(TypedDict):
    """The whole file. ``aliases`` is ``{project/type: {alias: row name}}``."""

    version: int
    models: list[RegistryRow]
    aliases: dict[str, dict[str, str]]


REGISTRY_ADAPTER: TypeAdapter[Registry] = TypeAdapter(Registry)


def registry_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with a parsed registry (missing top-level fields already defaulted), as
    one ``field ...`` line naming the row by its index and name; None when it is the schema's."""
    try:
        REGISTRY_ADAPTER.validate_python(data)
    except ValidationError as exc:
        problem = exc.errors()[0]
        loc = [str(part) for part in problem["loc"]]
        got = f" (got {problem.get('input')!r:.40})" if problem["type"] != "missing" else ""
        if loc[:1] == ["models"] and len(loc) > 1 and loc[1].isdigit():
            row = data["models"][int(loc[1])]
            name = row.get("name") if isinstance(row, dict) else None
            where = f"field models[{loc[1]}]" + (
                f" ({name[:40]!r})" if isinstance(name, str) else ""
            )
            inner = f" field {'.'.join(loc[2:])}:" if len(loc) > 2 else ""
            return f"{where}:{inner} {problem['msg']}{got}"
        return f"field {'.'.join(loc) or '(top level)'}: {problem['msg']}{got}"
    return None

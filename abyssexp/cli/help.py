"""How ``--help`` reads: commands grouped by the experiment's lifecycle.

Help is drawn by Click's own formatter (the app sets Typer's public ``rich_markup_mode=None``):
it keeps option names whole at any width, putting the help text on the next line after a long
name, and needs no reach into Typer's Rich tables. The panels are Click sections, written by
the root group's public ``format_commands`` hook (``abyssexp.cli.app``).

``PANELS`` is the one table that places every top-level command in a help panel; a command
added later gets its line here (``tests/cli/test_help.py`` fails for a command with none).
Panels print in the order of ``PANEL_ORDER``, and commands in the order they are listed.
"""

from __future__ import annotations

#: The lifecycle, in the order a person meets it.
PANEL_ORDER = ("Start", "Run", "Judge", "Keep", "Organise", "Setup")

#: Top-level command (or command group) -> its help panel. Order within a panel is this order.
PANELS: dict[str, str] = {
    "new": "Start",
    "data": "Start",
    "augment": "Start",
    "train": "Run",
    "sweep": "Run",
    "cancel": "Run",
    "test": "Judge",
    "compare": "Judge",
    "report": "Judge",
    "list": "Judge",
    "show": "Judge",
    "mlflow": "Judge",
    "promote": "Keep",
    "promoted": "Keep",
    "alias": "Keep",
    "export": "Keep",
    "predict": "Keep",
    "serve": "Keep",
    "verify": "Keep",
    "gc": "Keep",
    "store": "Keep",
    "tag": "Organise",
    "untag": "Organise",
    "note": "Organise",
    "archive": "Organise",
    "restore": "Organise",
    "rm": "Organise",
    "config": "Setup",
    "schema": "Setup",
    "backbones": "Setup",
    "cache": "Setup",
    "demo": "Setup",
}
UNPLACED = "More"  # a command missing from PANELS still shows, in a last panel


def lifecycle_order(names: list[str]) -> list[str]:
    """Command names sorted by panel, then by their line in ``PANELS`` (unplaced ones last)."""
    order = {name: i for i, name in enumerate(PANELS)}
    panel = {p: i for i, p in enumerate(PANEL_ORDER)}

    def key(name: str) -> tuple[int, int, str]:
        where = PANELS.get(name)
        return (panel.get(where, len(panel)) if where else len(panel), order.get(name, 0), name)

    return sorted(names, key=key)


def panel_sections(names: list[str]) -> list[tuple[str, list[str]]]:
    """Top-level command names as (panel, names) in the lifecycle's order: what ``--help``
    prints as one section per panel (commands missing from ``PANELS`` go to ``UNPLACED``)."""
    sections: dict[str, list[str]] = {}
    for name in lifecycle_order(names):
        sections.setdefault(PANELS.get(name, UNPLACED), []).append(name)
    return list(sections.items())

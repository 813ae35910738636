"""How ``--help`` reads: commands grouped by the experiment's lifecycle, option names whole.

``PANELS`` is the one table that places every top-level command in a help panel; a command
added later gets its line here (``tests/cli/test_help.py`` fails for a command with none).
Panels print in the order of ``PANEL_ORDER``, and commands in the order they are listed.
"""

from __future__ import annotations

from typing import Any

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


def assign_panels(typer_app: Any) -> None:
    """Give every registered command and group of ``typer_app`` its panel from ``PANELS``."""
    for command in typer_app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        command.rich_help_panel = PANELS.get(name, UNPLACED)
    for group in typer_app.registered_groups:
        name = group.name or (group.typer_instance.info.name if group.typer_instance else None)
        group.rich_help_panel = PANELS.get(name or "", UNPLACED)


def lifecycle_order(names: list[str]) -> list[str]:
    """Command names sorted by panel, then by their line in ``PANELS`` (unplaced ones last)."""
    order = {name: i for i, name in enumerate(PANELS)}
    panel = {p: i for i, p in enumerate(PANEL_ORDER)}

    def key(name: str) -> tuple[int, int, str]:
        where = PANELS.get(name)
        return (panel.get(where, len(panel)) if where else len(panel), order.get(name, 0), name)

    return sorted(names, key=key)


def keep_option_names_whole() -> None:
    """Typer draws options as a Rich table that shrinks every column alike at 80 columns
    (``--augmentation-configurat…``). Its tables get ``no_wrap`` on the name columns, so Rich
    narrows (and wraps) the type and help text instead and names stay whole. Installed
    when help is first drawn, so commands that print no help never import Typer's renderer."""
    from rich.table import Table
    from typer import rich_utils

    if getattr(rich_utils.Table, "keeps_names_whole", False):
        return

    class HelpTable(Table):
        keeps_names_whole = True

        def add_row(self, *renderables: Any, **kwargs: Any) -> None:
            super().add_row(*renderables, **kwargs)
            # Options: names | type (folds: "<int range> [1<=x<=100000]") | help.
            # Commands: name | help.
            options = len(self.columns) > 3
            names = self.columns[:-2] if options else self.columns[:-1]
            for column in names:
                column.no_wrap = True
            # What is left after the names goes to the help text (and some to the type).
            self.columns[-1].ratio = 3
            if options:
                self.columns[-2].ratio = 1

    rich_utils.Table = HelpTable  # type: ignore[misc]  # private API patched (issue 32 item 5)


def install_help_rendering() -> None:
    """Make every Typer command and group draw its help through ``keep_option_names_whole``."""
    from typer.core import TyperCommand, TyperGroup

    for cls in (TyperCommand, TyperGroup):
        if getattr(cls.format_help, "abyssexp", False):
            continue
        original = cls.format_help

        def format_help(self: Any, ctx: Any, formatter: Any, _original: Any = original) -> None:
            keep_option_names_whole()
            return _original(self, ctx, formatter)

        format_help.abyssexp = True  # type: ignore[attr-defined]  # a marker: patched once
        cls.format_help = format_help  # type: ignore[method-assign]  # the patch (item 5)

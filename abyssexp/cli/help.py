"""How ``--help`` reads: commands grouped by the experiment's lifecycle, option names whole.

``PANELS`` is the one table that places every top-level command in a help panel; a command
added later gets its line here (``tests/cli/test_help.py`` fails for a command with none).
Panels print in the order of ``PANEL_ORDER``, and commands in the order they are listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from typer.core import TyperCommand, TyperGroup

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


@contextmanager
def option_names_kept_whole() -> Iterator[None]:
    """Typer draws options as a Rich table that shrinks every column alike at 80 columns
    (``--augmentation-configurat…``). While help is drawn, its tables get ``no_wrap`` on the
    name columns, so Rich narrows (and wraps) the type and help text instead and names stay
    whole; Typer's own table is back as soon as the help is drawn.

    The one use of Typer's internals left (issue 32, item 5): no public Typer or Rich setting
    reaches the columns of the tables ``typer.rich_utils`` builds, so its ``Table`` is swapped
    for the length of one help text. Without it help reads the same except that, at 80
    columns, long option names are cut with "…" (``tests/cli/test_help.py`` holds this).
    """
    from rich.table import Table
    from typer import rich_utils

    class HelpTable(Table):
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

    original = rich_utils.Table
    rich_utils.Table = HelpTable  # type: ignore[misc]  # the one private use left (issue 32)
    try:
        yield
    finally:
        rich_utils.Table = original  # type: ignore[misc]  # the one private use left (issue 32)


class HelpCommand(TyperCommand):
    """Every abyssexp command: its help drawn with option names whole (Click's public
    ``format_help`` hook, the class given to Typer through ``cls``)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with option_names_kept_whole():
            super().format_help(ctx, formatter)


class HelpGroup(TyperGroup):
    """Every abyssexp command group (``data``, ``sweep``, ``store``...), as ``HelpCommand``."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with option_names_kept_whole():
            super().format_help(ctx, formatter)


def use_help_classes(typer_app: Any) -> None:
    """Give every command and group of ``typer_app`` that names no class of its own
    ``HelpCommand``/``HelpGroup`` (Typer's public ``cls``), before Typer builds them."""
    for command in typer_app.registered_commands:
        if not isinstance(command.cls, type) or command.cls is TyperCommand:
            command.cls = HelpCommand  # (Typer's default is a placeholder, or TyperCommand)
    for group in typer_app.registered_groups:
        if not isinstance(group.cls, type) or group.cls is TyperGroup:
            group.cls = HelpGroup
        if group.typer_instance is not None:
            use_help_classes(group.typer_instance)

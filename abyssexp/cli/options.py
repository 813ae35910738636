"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

if TYPE_CHECKING:
    from abyssexp.config import StoreURL

ScratchOption = Annotated[
    Path | None,
    typer.Option(
        "--scratch",
        help="Scratch root (default: $ABYSSEXP_SCRATCH, the config file, /mnt/pond/scratch).",
        show_default=False,
    ),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Permanent store: a folder or s3://BUCKET/PREFIX (default: $ABYSSEXP_STORE, the "
        "config file, /mnt/pond/models).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a param: section.field=VALUE (VALUE is JSON or a Python literal, else a "
        "string). Repeatable.",
        show_default=False,
    ),
]


NoNearCheckOption = Annotated[
    bool,
    typer.Option(
        "--no-near-check",
        help="Skip looking for near-duplicate images across the splits (identical ones are "
        "still checked).",
    ),
]


def scratch_root(scratch: Path | None) -> Path:
    from abyssexp.config import resolve_roots

    # Only the store may be a URL: the scratch is always a folder.
    return cast(Path, resolve_roots(scratch=scratch).scratch.path)


def store_root(store: str | None) -> Path | StoreURL:
    from abyssexp.config import resolve_roots

    return resolve_roots(store=store).store.path


def finite(value: float | None) -> float | None:
    """A float option that must be a finite number (``nan`` would pass every comparison)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"expected a finite number, got {value}")
    return value

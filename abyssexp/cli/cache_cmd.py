"""``cache info``, ``cache clear``: the preprocessed image cache under the scratch root.

No TensorFlow."""

from __future__ import annotations

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import human_bytes, print_json, print_line
from abyssexp.cli.options import JsonOption, ScratchOption, scratch_root

cache_app = typer.Typer(
    help="The decoded-image cache shared by experiments (training.cache: disk).",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info_command(scratch: ScratchOption = None, json_output: JsonOption = False) -> None:
    """Where the image cache is, how many entries it holds and their size."""
    from abyssexp.datasets.image_cache import cache_dir, cache_info

    info = cache_info(cache_dir(scratch_root(scratch)))
    if json_output:
        print_json({"folder": str(info.folder), "entries": info.entries, "bytes": info.bytes})
        return
    print_line(f"{info.folder}: {info.entries} entries, {human_bytes(info.bytes)}")


@cache_app.command("clear")
def cache_clear_command(scratch: ScratchOption = None, json_output: JsonOption = False) -> None:
    """Delete every entry of the image cache (only inside its folder; the next training run
    decodes its images again)."""
    from abyssexp.datasets.image_cache import cache_dir, clear_cache

    info = clear_cache(cache_dir(scratch_root(scratch)))
    if json_output:
        print_json({"folder": str(info.folder), "removed": info.entries, "bytes": info.bytes})
        return
    print_line(f"{info.folder}: removed {info.entries} entries, {human_bytes(info.bytes)}")

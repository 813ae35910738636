"""``abyssexp data check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import err, error_line, out, print_json, progress_bar
from abyssexp.cli.options import JsonOption

data_app = typer.Typer(help="Inspect COCO classification data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("check")
def check_command(
    coco_file: Annotated[Path, typer.Argument(help="The COCO json to check.")],
    category_map: Annotated[
        str | None, typer.Option("--category-map", help="Category map JSON file.")
    ] = None,
    map_by: Annotated[
        str | None, typer.Option("--map-by", help="Build the map: category or supercategory.")
    ] = None,
    image_dir: Annotated[
        Path | None, typer.Option("--image-dir", help="Images folder (default: the file's folder).")
    ] = None,
    translator: Annotated[
        str, typer.Option("--translator", help="category, or caption (deprecated captions).")
    ] = "category",
    caption_map: Annotated[
        str | None, typer.Option("--caption-map", help="Caption word -> logit JSON file.")
    ] = None,
    label_source: Annotated[
        str, typer.Option("--label-source", help="any, or zero_area (only zero-area annotations).")
    ] = "any",
    sigmoid: Annotated[
        bool, typer.Option("--sigmoid", help="Check for a multilabel (sigmoid) model.")
    ] = False,
    no_decode: Annotated[
        bool, typer.Option("--no-decode", help="Skip decoding the images (structure only).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Check duplicate ids, dangling annotations, the category map and every image file; print
    label statistics. Exit 0 when the data is usable (it lists images, at least one carries a
    mapped label, every file decodes), else 1 with one line per problem."""
    from abyssexp.datasets.check import check_coco
    from abyssexp.errors import InvalidInputError

    for flag, value, valid in (
        ("--map-by", map_by, (None, "category", "supercategory")),
        ("--translator", translator, ("category", "caption")),
        ("--label-source", label_source, ("any", "zero_area")),
    ):
        if value not in valid:
            choices = " or ".join(v for v in valid if v)
            raise InvalidInputError(f"{flag} must be {choices}. Received: {value!r}")
    with progress_bar("decoding images", quiet=json_output) as report_progress:
        report = check_coco(
            coco_file,
            category_map=category_map,
            map_by=map_by,
            image_dir=image_dir,
            translator=translator,
            caption_map=caption_map,
            label_source=label_source,
            softmax=not sigmoid,
            decode=not no_decode,
            progress=report_progress,
        )
    if json_output:
        print_json(report.to_json())
    else:
        _render(report)
    if not report.ok:
        if not json_output:
            for problem in report.problems:
                error_line(f"{coco_file}: {problem}")
        raise typer.Exit(1)


def _render(report) -> None:
    from rich.table import Table

    stats = report.stats
    if stats:
        out.print(
            f"[bold]{report.path}[/]: {stats['images']} images, {stats['labelled']} labelled, "
            f"{stats['unlabelled']} unlabelled, {stats['multilabel']} multilabel, "
            f"{stats['classes']} classes"
        )
        table = Table("class", "images")
        for name, count in stats["class_counts"].items():
            table.add_row(name, str(count))
        out.print(table)
        if stats["imbalance_ratio"] is not None:
            out.print(f"imbalance ratio (largest/smallest class): {stats['imbalance_ratio']:.2f}")
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    if report.ok:
        out.print("[green]usable[/]")

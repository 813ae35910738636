"""``export`` and ``predict``: a model's life after promotion. Both import TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from abyssexp.cli.app import app
from abyssexp.cli.console import err, print_json, print_line, progress_bar
from abyssexp.cli.options import (
    JsonOption,
    ScratchOption,
    StoreOption,
    finite,
    scratch_root,
    store_root,
)
from abyssexp.cli.tables import Column, print_table

SourceArgument = Annotated[
    str,
    typer.Argument(
        help="Experiment REF, promoted folder, PROJECT/TYPE@ALIAS or a .keras file.",
        metavar="MODEL",
    ),
]


@app.command("export")
def export_command(
    source: SourceArgument,
    formats: Annotated[
        str, typer.Option("--format", help="savedmodel, onnx, litert (comma-separated).")
    ] = "savedmodel,onnx",
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to create (default: <experiment>/exports/<ckpt>)."),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            min=0.0,
            callback=finite,
            help="Largest score difference accepted (finite, >= 0).",
        ),
    ] = 1e-4,
    scratch: ScratchOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Export a model for serving, each format checked for parity against the Keras model on
    images of its test set (max score difference and top-1 agreement go into export.json)."""
    from abyssexp.evaluation.export_parity import export_checkpoint
    from abyssexp.models.export import parse_formats
    from abyssexp.store.sources import resolve_export_source

    chosen = parse_formats(formats)
    checkpoint, testing = resolve_export_source(source, scratch_root(scratch), store_root(store))
    if out_dir is None:
        from abyssexp.experiment.promoted import is_promoted_folder

        if testing is None or is_promoted_folder(testing.parent):
            raise typer.BadParameter("give --out DIR (promoted folders are read-only)")
        out_dir = testing.parent / "exports" / checkpoint.stem
    report = export_checkpoint(checkpoint, out_dir, chosen, testing, tolerance)
    if json_output:
        print_json({"out": str(out_dir), **report.to_json()})
        return
    print_parity(str(out_dir), report.formats)


def print_parity(title: str, formats: dict[str, Any]) -> None:
    """Each exported format's parity with the Keras model: the largest score difference and
    the share of images whose top class agrees (``export`` and ``promote --export``)."""
    columns = [
        Column("format", key=True),
        Column("size", 2, justify="right"),
        Column("max |diff|", justify="right"),
        Column("top-1 agree", justify="right"),
        Column("images/s", 3, justify="right"),
    ]
    rows = [
        [
            name,
            f"{row['bytes'] / 1e6:.1f} MB",
            f"{row['max_abs_difference']:.1e}",
            f"{row['top1_agreement']:.3f}",
            f"{row['images_per_second']:.0f}",
        ]
        for name, row in formats.items()
    ]
    print_table(columns, rows, title)


@app.command("predict")
def predict_command(
    source: SourceArgument,
    inputs: Annotated[
        list[Path] | None, typer.Argument(help="Image files or folders.", metavar="[INPUT]...")
    ] = None,
    coco: Annotated[Path | None, typer.Option("--coco", help="The images of a COCO file.")] = None,
    image_dir: Annotated[
        Path | None,
        typer.Option(
            "--image-dir",
            help="--coco's images folder (default: found where export tools put them).",
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write predictions.json here.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=65536, help="Images per batch.")
    ] = 32,
    top_k: Annotated[
        int, typer.Option("--top-k", min=1, max=1000, help="Classes ranked per image.")
    ] = 3,
    scratch: ScratchOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Class scores for images, folders or a COCO file; COCO-style results with --out."""
    from abyssexp.atomic import atomic_write_json
    from abyssexp.evaluation.predict import collect_inputs, predict_images
    from abyssexp.store.sources import resolve_export_source

    checkpoint, _ = resolve_export_source(source, scratch_root(scratch), store_root(store))
    items = collect_inputs(list(inputs or []), coco, image_dir)
    with progress_bar("predicting", quiet=json_output) as report_progress:
        result = predict_images(checkpoint, items, batch_size, top_k, progress=report_progress)
    data = result.to_json()
    if out_file is not None:
        atomic_write_json(out_file, data)
    if data["warning"]:
        err.print(f"[yellow]warning:[/] {escape(data['warning'])}", soft_wrap=True)
    if json_output:
        print_json(data)
        return
    _print_predictions(data, out_file)


def _print_predictions(data: dict, out_file: Path | None, shown: int = 20) -> None:
    """Softmax: the top class per image. Sigmoid (multilabel): the label set the thresholds
    select, then the thresholds themselves, so a reader knows what "predicted" meant."""
    multilabel = data["activation"] != "softmax"
    columns = [
        Column("image", key=True),
        Column("labels" if multilabel else "top class"),
        Column("scores" if multilabel else "score", justify="left" if multilabel else "right"),
    ]
    rows = []
    for row in data["predictions"][:shown]:
        if multilabel:
            labels = row["predicted"]
            scores = " ".join(f"{row['scores'][name]:.2f}" for name in labels)
            rows.append([row["file_name"], ", ".join(labels) or "(none)", scores or "-"])
        else:
            name, score = row["top_k"][0]
            rows.append([row["file_name"], name, f"{score:.3f}"])
    print_table(columns, rows, f"predictions of {data['model']}")
    more = len(data["predictions"]) - shown
    if more > 0:
        print_line(f"... and {more} more")
    if multilabel:
        print_line(_thresholds_line(data["class_names"], data["thresholds"]))
    rate = data["images_per_second"]
    speed = f", {rate:.0f} images/s" if rate else ""
    print_line(f"{data['images']} images{speed}" + (f"; written to {out_file}" if out_file else ""))


def _thresholds_line(names: list[str], thresholds: list[float] | None) -> str:
    if thresholds is None:
        return "thresholds: 0.5 for every class (no thresholds.json beside the model)"
    pairs = ", ".join(f"{n} {t:.2f}" for n, t in zip(names, thresholds, strict=True))
    return f"thresholds (thresholds.json, chosen on validation): {pairs}"

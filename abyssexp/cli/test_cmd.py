"""``abyssexp test``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from abyssexp.cli.app import app
from abyssexp.cli.console import err, print_json, print_line, progress_bar
from abyssexp.cli.options import JsonOption, NoNearCheckOption, ScratchOption, scratch_root

if TYPE_CHECKING:
    from abyssexp.evaluation.evaluate import TestResult


@app.command("test")
def test_command(
    ref: Annotated[
        str, typer.Argument(help="Experiment: folder, PROJECT/TYPE/NNN or PROJECT/TYPE/NAME.")
    ],
    coco: Annotated[Path, typer.Option("--coco", help="The COCO test set.")],
    condition: Annotated[
        str,
        typer.Option("--condition", help="Name of the testing condition (a folder in testing/)."),
    ],
    checkpoint: Annotated[
        str, typer.Option("--checkpoint", help="best, last or an epoch number.")
    ] = "best",
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Sigmoid models: one threshold for every class (default: the per-class "
            "thresholds chosen at training, else 0.5).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, max=65536, help="Default: training.batch_size."),
    ] = None,
    image_dir: Annotated[
        Path | None,
        typer.Option(
            "--image-dir", help="Images folder (default: found where export tools put them)."
        ),
    ] = None,
    tta: Annotated[
        str | None,
        typer.Option("--tta", help="Test-time augmentation: flip (mean of image and mirror)."),
    ] = None,
    no_near_check: NoNearCheckOption = False,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Evaluate a checkpoint on a COCO test set: metrics, predictions, report and plots in
    testing/<condition>/. Test images that are training or validation images are counted
    (identical, and near-duplicates unless --no-near-check) and shown as caveats."""
    from abyssexp.datasets.locate import require_coco_images
    from abyssexp.experiment.refs import resolve_ref
    from abyssexp.tf_runtime import load_tensorflow

    paths = resolve_ref(ref, scratch_root(scratch))
    require_coco_images(coco, image_dir)  # a wrong folder is said before TensorFlow loads
    load_tensorflow()
    from abyssexp.evaluation.evaluate import evaluate_experiment

    with progress_bar("predicting", quiet=json_output) as report_progress:
        result = evaluate_experiment(
            paths,
            coco,
            condition,
            checkpoint=checkpoint,
            threshold=threshold,
            tta=tta,
            batch_size=batch_size,
            image_dir=image_dir,
            progress=report_progress,
            near_check=not no_near_check,
        )
    if json_output:
        print_json(result.to_json())
        return
    _print_result(result, condition)


def _print_result(result: TestResult, condition: str) -> None:
    """The per-class table, the summary metrics and where the files are."""
    from abyssexp.cli.tables import Column, print_table

    metrics = result.metrics
    err.print(metrics["images_found"], markup=False, soft_wrap=True)
    columns = [
        Column("class", key=True),
        *(Column(h, 1, justify="right") for h in ("precision", "recall", "f1")),
        Column("AP", 2, justify="right"),
        Column("support", justify="right"),
    ]
    rows = [
        [
            name,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            "-" if row["average_precision"] is None else f"{row['average_precision']:.3f}",
            str(row["support"]),
        ]
        for name, row in metrics["per_class"].items()
    ]
    title = f"{condition}: {metrics['images']} images, checkpoint {result.checkpoint}"
    print_table(columns, rows, title)
    from abyssexp.experiment.result_digest import missing_intervals, summary_metric

    shown = ("accuracy", "macro_f1", "micro_f1", "mAP")
    for key in shown:
        if metrics.get(key) is not None:
            print_line(f"{key:<9} {summary_metric(metrics, key)}")
    for line in missing_intervals(metrics, shown):
        print_line(line)
    if metrics.get("overlap") is not None:
        print_line(f"{'overlap':<9} {metrics['overlap']}")
    for caveat in metrics.get("caveats") or []:
        err.print(f"[yellow]warning:[/] {escape(caveat['message'])}", soft_wrap=True)
    print_line(f"results in {result.folder}")

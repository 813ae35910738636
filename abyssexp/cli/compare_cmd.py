"""``compare`` and ``report``: which experiment is best, what differs, and a page to share.

No TensorFlow: both read the experiments' files only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import err, print_json, print_line
from abyssexp.cli.options import JsonOption, ScratchOption, scratch_root
from abyssexp.cli.tables import Column, print_table


@app.command("compare")
def compare_command(
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Experiments: folders, PROJECT/TYPE/NNN, PROJECT/TYPE/NAME or patterns "
            "(shapes/classification/*)."
        ),
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option("--sweep", help="Every trial of this sweep (PROJECT/TYPE/sNNN or sNNN)."),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Order best first by a validation metric (val_accuracy) or a test result "
            "(CONDITION:accuracy).",
        ),
    ] = None,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="KEY OP VALUE, OP one of = != < <= > >= (repeatable)."),
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only these statuses (comma-separated).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only with this tag.")] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Experiment names as column headers, every digit.")
    ] = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Compare experiments: the params that differ, best validation metrics, test results,
    epochs, time and provenance (different datasets are flagged)."""
    from abyssexp.experiment.compare import compare_experiments, comparison_rows

    refs = list(refs or [])
    if sweep:
        from abyssexp.experiment.sweep import resolve_sweep

        refs += [str(root) for root in resolve_sweep(sweep, scratch_root(scratch)).trial_roots()]
    if not refs:
        from abyssexp.errors import InvalidInputError

        raise InvalidInputError("compare: name experiments (REF...) or a sweep (--sweep ID)")
    data = compare_experiments(
        scratch_root(scratch), refs, metric=metric, filters=filter_, status=status, tags=tag
    )
    if json_output:
        print_json(data)
        return
    rows = comparison_rows(data)
    names = [c["experiment"] for c in data["experiments"]]
    if csv_output:
        _print_csv(rows, names)
        return
    if not wide:  # one write: 20,000 lines must not cost 20,000 console calls
        print_line(
            "\n".join(
                f"[{index}] {column['experiment']}"
                for index, column in enumerate(data["experiments"], start=1)
            )
        )
    headers = names if wide else [f"[{i}]" for i in range(1, len(names) + 1)]
    columns = [Column("field", key=True), *(Column(h, justify="right") for h in headers)]
    cells = [[field, *_marked(section, field, values, wide)] for section, field, values in rows]
    print_table(columns, cells, "comparison" + (f" by {metric}" if metric else ""), wide=wide)
    if data["dataset_mismatch"]:
        err.print(
            f"[bold red]warning:[/] the experiments used different datasets "
            f"({', '.join(data['dataset_mismatch'])}): their metrics are not comparable",
            soft_wrap=True,
        )


def _format(value: Any, wide: bool) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value) if wide else f"{value:.4g}"
    if isinstance(value, str) and len(value) == 40 and not wide:  # a commit or a hash
        return value[:10]
    if isinstance(value, str) and len(value) == 64 and not wide:
        return value[:12]
    return value if isinstance(value, str) else str(value)


def _marked(section: str, field: str, values: list[Any], wide: bool) -> list[str]:
    """Cells of one row; the best metric value in bold green, differing datasets in red."""
    from abyssexp.experiment.compare import lower_is_better

    cells: list[Any] = [_format(v, wide) for v in values]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if section in ("validation", "test") and len(numbers) > 1:
        best = (min if lower_is_better(field) else max)(numbers)
        cells = [(c, "bold green") if v == best else c for c, v in zip(cells, values, strict=True)]
    if field.startswith("sha256") and len({v for v in values if v}) > 1:
        cells = [(c, "bold red") for c in cells]
    return cells


def _print_csv(rows: list[tuple[str, str, list[Any]]], names: list[str]) -> None:
    import csv

    writer = csv.writer(sys.stdout)
    writer.writerow(["section", "field", *names])
    for section, field, values in rows:
        writer.writerow([section, field, *("" if v is None else v for v in values)])


@app.command("report")
def report_command(
    ref: Annotated[
        str, typer.Argument(help="Experiment: folder, PROJECT/TYPE/NNN or PROJECT/TYPE/NAME.")
    ],
    compare: Annotated[
        list[str] | None,
        typer.Option("--compare", help="Another experiment to show side by side (repeatable)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--out", help="The HTML file (default: <experiment>/report.html)."),
    ] = None,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write one self-contained HTML page (no network needed): purpose, provenance, params,
    training curves, test metrics, PR curves, confusion matrices and the worst mistakes."""
    from abyssexp.report import write_report

    written = write_report(ref, scratch_root(scratch), compare or [], output)
    if json_output:
        print_json(written.to_json())
        return
    err.print(f"report of {written.experiments} experiment(s), {written.bytes / 1e6:.2f} MB")
    print_line(str(written.path))

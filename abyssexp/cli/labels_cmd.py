"""``abyssexp data label-issues``: likely label errors of a fold sweep (its own module beside
``data_cmd.py``, which other data commands keep growing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from abyssexp.cli.console import err, print_json, print_line
from abyssexp.cli.data_cmd import data_app
from abyssexp.cli.options import JsonOption, ScratchOption, scratch_root

#: Rows the table shows unless --top says otherwise (the files hold every suspect).
DEFAULT_TOP = 20


@data_app.command("label-issues")
def label_issues_command(
    sweep: Annotated[
        str, typer.Argument(help="A fold sweep: PROJECT/TYPE/sNNN, sNNN or its file.")
    ],
    ranked_by: Annotated[
        str,
        typer.Option(
            "--ranked-by", help="self_confidence or normalized_margin (cleanlab's scores)."
        ),
    ] = "self_confidence",
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", help="Folder for the page, suspects COCO and JSON (default: the sweep's)."
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Rows in the table.")] = DEFAULT_TOP,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Rank the images whose label is most likely wrong, from a fold sweep's out-of-fold
    predictions, with cleanlab (the optional extra labels). Writes a page of thumbnails, a COCO
    file of the suspects to review in the annotation tool, and the JSON."""
    from abyssexp.config import check_outputs
    from abyssexp.report.label_issues_page import write_review_files
    from abyssexp.results.label_issues import find_sweep_label_issues

    if out_dir is not None:
        check_outputs([out_dir])
    result = find_sweep_label_issues(sweep, scratch_root(scratch), ranked_by)
    target = out_dir if out_dir is not None else result.review_dir
    files = write_review_files(result, Path(str(target)).absolute())
    if json_output:
        print_json({**result.to_json(), "files": files.to_json()})
        return
    _print_issues(result, top)
    for path in (files.page, files.suspects, files.ranking):
        print_line(str(path))


def _print_issues(result, top: int) -> None:
    """The table of the first ``top`` suspects and one line saying how many of how many."""
    from abyssexp.cli.tables import Column, print_table

    columns = [
        Column("#", 0, justify="right"),
        Column("image", 0, key=True),
        Column("given", 1),
        Column("suggested", 1),
        Column("score", 0, justify="right"),
    ]
    rows = [
        [
            str(issue.rank),
            Path(issue.file).name or str(issue.image_id),
            ", ".join(issue.given) or "(none)",
            ", ".join(issue.suggested) or "(none)",
            f"{issue.score:.3f}",
        ]
        for issue in result.issues[:top]
    ]
    if rows:
        print_table(columns, rows, f"likely label errors ({result.ranked_by})")
    shown = f"; the first {len(rows)} above" if len(rows) < len(result.issues) else ""
    err.print(
        f"{len(result.issues)} of {result.images} images flagged from {len(result.trials)} "
        f"folds' out-of-fold predictions{shown} (score: lower is more likely wrong)",
        markup=False,
    )
    if result.warning():
        err.print(f"[yellow]warning:[/] {escape(result.warning())}", soft_wrap=True)
    if result.skipped:
        err.print(f"{result.skipped} image(s) without exactly one label not ranked", markup=False)

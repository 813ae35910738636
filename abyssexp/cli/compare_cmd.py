"""``compare`` and ``report``: which experiment is best, what differs, and a page to share.

No TensorFlow: both read the experiments' files only.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from abyssexp.cli.app import app
from abyssexp.cli.console import err, print_json, print_line
from abyssexp.cli.options import JsonOption, ScratchOption, scratch_root
from abyssexp.cli.tables import Column, print_table
from abyssexp.experiment.result_digest import caveat_messages

if TYPE_CHECKING:
    from abyssexp.results.compare import Comparison
    from abyssexp.results.paired import PairedComparison
    from abyssexp.results.seed_groups import SeedGroups


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
    """Compare experiments: the params that differ, best validation metrics, test results
    with their 95 % intervals, epochs, time and provenance (different datasets are flagged).
    With two experiments and --metric CONDITION:METRIC, a paired test says whether B − A is
    real; with --sweep, trials that differ only by seed or fold are pooled."""
    from abyssexp.results.compare import compare_experiments
    from abyssexp.sweeps.selection import Selection, select_roots

    location = None
    if sweep:
        from abyssexp.sweeps.trials import resolve_sweep

        location = resolve_sweep(sweep, scratch_root(scratch))
    usage = "compare: name experiments (REF...) or a sweep (--sweep ID)"
    refs = list(refs or [])  # patterns stay as given: compare says when one matches nothing
    if sweep or not refs:
        trials = select_roots(scratch_root(scratch), Selection(sweep=sweep), usage, location)
        refs += [str(root) for root in trials]
    data = compare_experiments(
        scratch_root(scratch), refs, metric=metric, filters=filter_, status=status, tags=tag
    )
    if metric and ":" in metric and len(data["selected"]) == 2:
        from abyssexp.results.paired import paired_comparison

        first, second = (Path(root) for root in data["selected"])
        data["paired"] = paired_comparison(first, second, metric)
    if location is not None:
        from abyssexp.results.winners import judged_groups, sweep_direction

        data["groups"] = judged_groups(data, metric, sweep_direction(location, metric))
    from abyssexp.experiment.list_rows import collector_paused

    with collector_paused():  # thousands of columns of small dicts: no rescans while printing
        _render(data, metric, wide, csv_output, json_output)


def _render(
    data: Comparison, metric: str | None, wide: bool, csv_output: bool, json_output: bool
) -> None:
    """The comparison as JSON, CSV or the table."""
    from abyssexp.results.compare import comparison_rows

    if json_output:
        print_json(data)
        return
    rows = comparison_rows(data)
    names = [c["experiment"] for c in data["experiments"]]
    if csv_output:
        _print_csv(rows, names)
        return
    _print_comparison(data, rows, names, metric, wide)


def _print_comparison(
    data: Comparison, rows: list[Any], names: list[str], metric: str | None, wide: bool
) -> None:
    """The table, then what makes its numbers incomparable or uncertain, then the verdict."""
    from abyssexp.results.compare import interval_cells

    if not wide:  # one write: 20,000 lines must not cost 20,000 console calls
        print_line(
            "\n".join(
                f"[{index}] {column['experiment']}"
                for index, column in enumerate(data["experiments"], start=1)
            )
        )
    headers = names if wide else [f"[{i}]" for i in range(1, len(names) + 1)]
    columns = [Column("field", key=True), *(Column(h, justify="right") for h in headers)]
    cells = [
        [field, *_marked(section, field, values, wide, interval_cells(data, field))]
        for section, field, values in rows
    ]
    print_table(columns, cells, "comparison" + (f" by {metric}" if metric else ""), wide=wide)
    if data["dataset_mismatch"]:
        err.print(
            f"[bold red]warning:[/] the experiments used different datasets "
            f"({', '.join(data['dataset_mismatch'])}): their metrics are not comparable",
            soft_wrap=True,
        )
    for line in data.get("test_mismatch") or []:
        err.print(
            f"[bold red]warning:[/] not comparable test results: {escape(line)}", soft_wrap=True
        )
    for index, column in enumerate(data["experiments"], start=1):
        for line in caveat_messages(column["tests"]):
            err.print(f"[yellow]caveat:[/] [{index}] {escape(line)}", soft_wrap=True)
    if data.get("groups"):
        _print_groups(data["groups"])
    if data.get("paired"):
        _print_paired(data["paired"], data)


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


def _marked(
    section: str, field: str, values: list[Any], wide: bool, texts: list[str] | None = None
) -> list[str]:
    """Cells of one row (``texts``: how to write them, e.g. with their interval); the best
    metric value in bold green, differing datasets in red."""
    from abyssexp.metric_direction import lower_is_better

    cells: list[Any] = texts or [_format(v, wide) for v in values]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if section in ("validation", "test") and len(numbers) > 1:
        best = (min if lower_is_better(field) else max)(numbers)
        cells = [(c, "bold green") if v == best else c for c, v in zip(cells, values, strict=True)]
    if field.startswith("sha256") and len({v for v in values if v}) > 1:
        cells = [(c, "bold red") for c in cells]
    return cells


def _print_paired(paired: PairedComparison, data: Comparison) -> None:
    """B − A with its paired interval and the verdict, or why there is no verdict."""
    order = {c["path"]: i for i, c in enumerate(data["experiments"], start=1)}
    a, b = (f"[{order.get(paired[k], '?')}]" for k in ("a", "b"))
    what = f"{paired['condition']}:{paired['metric']}"
    result = paired["result"]
    if paired["verdict"] is None or result is None:
        print_line(f"paired test B {b} vs A {a} on {what}: no paired verdict")
        for reason in paired["reasons"]:
            print_line(f"  {reason}")
        return
    columns = [Column("field", key=True), Column("value", justify="right")]
    cells: list[list[Any]] = [
        ["A " + a, f"{result['a']:.4f}"],
        ["B " + b, f"{result['b']:.4f}"],
        ["B − A", _difference(result)],
        ["images (paired)", str(result["n"])],
    ]
    if "p_value" in result:
        cells.append(
            [
                "McNemar exact",
                f"p={result['p_value']:.3g} (A only {result['a_only']}, B only {result['b_only']})",
            ]
        )
    cells.append(["verdict (95 %)", (result["verdict"], "bold")])
    print_table(columns, cells, f"paired test on {what}: B − A")
    if result.get("reason"):
        print_line(f"{result['verdict']}: {result['reason']}")


def _difference(result: Mapping[str, Any]) -> str:
    """``+0.6500 [+0.5333 to +0.7667]``, or the difference alone when the paired resamples
    gave no interval."""
    text = f"{result['difference']:+.4f}"
    if result.get("low") is None or result.get("high") is None:
        return text
    return f"{text} [{result['low']:+.4f} to {result['high']:+.4f}]"


def _print_groups(groups: SeedGroups) -> None:
    """Trials that differ only by seed or fold, as mean ± standard deviation per group."""
    columns = [
        Column("group", key=True),
        Column("mean ± sd", justify="right"),
        Column("n", justify="right"),
        Column("trials"),
    ]
    cells = [
        [g["label"], _mean_sd(g), str(g["n"]), ", ".join(g["trials"])] for g in groups["groups"]
    ]
    print_table(columns, cells, f"groups by {groups['metric']} (seeds and folds pooled)")
    for line in winner_lines(groups):
        print_line(line)


def winner_lines(groups: SeedGroups, width: int = 80) -> list[str]:
    """The best group (or trial) with its interval and how it was made, then whether the
    runner-up is distinguishable from it and by which test; each line fits ``width``."""
    import textwrap

    from abyssexp.metric_direction import LEVEL

    best, other, verdict = groups.get("best"), groups.get("runner_up"), groups.get("verdict")
    if not best:
        return []
    noun = "trial" if all(len(g["trials"]) == 1 for g in groups["groups"]) else "group"

    def name(group: dict[str, Any]) -> str:
        return group["trials"][0] if noun == "trial" else group["label"]

    def wrap(text: str, indent: str = "") -> list[str]:
        return textwrap.wrap(text, width, subsequent_indent=indent + "  ", initial_indent=indent)

    if best.get("low") is not None:
        value = f"{best['mean']:.4f} [{best['low']:.4f}–{best['high']:.4f}] n={best['n']}"
    else:
        value = f"{best['mean']:.4f} n={best['n']}"
    lines = wrap(f"best {noun}: {name(best)}")
    lines += wrap(f"{groups['metric']} {value} ({best['interval']})", "  ")
    if not other or not verdict:
        return lines + ["  no runner-up to judge it against"]
    lines += wrap(f"runner-up: {name(other)}: {other['mean']:.4f} n={other['n']}")
    if verdict["distinguishable"] is None:
        return lines + wrap(f"cannot tell them apart: {verdict['reason']}", "  ")
    answer = "distinguishable" if verdict["distinguishable"] else "not distinguishable"
    lines += wrap(
        f"{answer} at {LEVEL * 100:.0f} %: difference {verdict['difference']:+.4f} "
        f"[{verdict['low']:+.4f} to {verdict['high']:+.4f}] ({verdict['method']})",
        "  ",
    )
    return lines


def _mean_sd(group: dict[str, Any]) -> str:
    if group["mean"] is None:
        return "-"
    if group["sd"] is None:
        return f"{group['mean']:.4f}"
    return f"{group['mean']:.4f} ± {group['sd']:.4f}"


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

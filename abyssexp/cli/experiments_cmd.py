"""``new``, ``list``, ``show``, ``schema``, ``config``: the experiment convention at the prompt.

None of these import TensorFlow.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from abyssexp.cli.app import app
from abyssexp.cli.console import err, human_bytes, print_json, print_line
from abyssexp.cli.options import (
    JsonOption,
    NoNearCheckOption,
    ScratchOption,
    SetOption,
    StoreOption,
    scratch_root,
)
from abyssexp.cli.tables import Column, print_fields, print_table

if TYPE_CHECKING:
    from abyssexp.experiment.create import NewExperiment
    from abyssexp.experiment.list_rows import ListRow
    from abyssexp.experiment.show import ExperimentDescription


@app.command("config")
def config_command(
    scratch: ScratchOption = None, store: StoreOption = None, json_output: JsonOption = False
) -> None:
    """Show the resolved scratch and store roots and where each value came from."""
    from abyssexp.config import resolve_roots

    roots = resolve_roots(scratch, store)
    data: dict[str, Any] = {
        "scratch": {"path": str(roots.scratch.path), "source": roots.scratch.source},
        "store": {"path": str(roots.store.path), "source": roots.store.source},
        "config_file": str(roots.config_file),
        "config_file_exists": roots.config_file.is_file(),
    }
    if json_output:
        print_json(data)
        return
    columns = [Column("root"), Column("path", key=True), Column("from", 2)]
    rows = [[name, data[name]["path"], data[name]["source"]] for name in ("scratch", "store")]
    print_table(columns, rows, "abyssexp roots")
    exists = "exists" if data["config_file_exists"] else "not present"
    print_line(f"config file: {roots.config_file} ({exists})")


ForceDataOption = Annotated[
    bool, typer.Option("--force-data", help="Create it although the data is not usable (recorded).")
]
AllowLeaksOption = Annotated[
    bool,
    typer.Option(
        "--allow-leaks", help="Create it although val images are training images (recorded)."
    ),
]


@app.command("new")
def new_command(
    project: Annotated[str, typer.Argument(help="Project, e.g. cctv-ml-experiments.")],
    experiment_type: Annotated[str, typer.Argument(help="Experiment type, e.g. fault-detection.")],
    dataset_info: Annotated[str, typer.Argument(help="Dataset shorthand, e.g. pjm-swc.")],
    infos: Annotated[
        list[str] | None, typer.Argument(help="More name parts, e.g. lr5e-4 xception.")
    ] = None,
    train: Annotated[
        Path | None, typer.Option("--train", help="Training COCO file (copied).")
    ] = None,
    val: Annotated[
        Path | None, typer.Option("--val", help="Validation COCO file (copied).")
    ] = None,
    image_dir: Annotated[
        Path | None,
        typer.Option(
            "--image-dir",
            help="Images folder of both splits (default: found where export tools put them).",
        ),
    ] = None,
    train_images: Annotated[
        Path | None, typer.Option("--train-images", help="Images folder of --train.")
    ] = None,
    val_images: Annotated[
        Path | None, typer.Option("--val-images", help="Images folder of --val.")
    ] = None,
    make_datasets: Annotated[
        Path | None, typer.Option("--make-datasets", help="Script that rebuilds the datasets.")
    ] = None,
    set_: SetOption = None,
    from_ref: Annotated[
        str | None, typer.Option("--from", help="Start from another experiment's params (REF).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="The purpose, written to readme.txt.")] = "",
    force_data: Annotated[
        bool,
        typer.Option("--force-data", help="Create it although the data is not usable (recorded)."),
    ] = False,
    allow_leaks: Annotated[
        bool,
        typer.Option(
            "--allow-leaks", help="Create it although val images are training images (recorded)."
        ),
    ] = False,
    no_near_check: NoNearCheckOption = False,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a numbered experiment: NNN.DATASET_INFO.INFO... with datasets/, logs/, models/,
    testing/ and readme.txt. Finds each split's images folder (or takes the one given), records
    it absolute and checks every image file exists; refuses data `data check` finds not usable
    and val images that are training images; warns of near-duplicates across the splits
    (--no-near-check skips that). Prints its path as the last line."""
    from abyssexp.experiment.create import NewExperimentRequest, create_experiment
    from abyssexp.schemas.resolve import parse_set_options

    created = create_experiment(
        NewExperimentRequest(
            scratch=scratch_root(scratch),
            project=project,
            experiment_type=experiment_type,
            dataset_info=dataset_info,
            infos=infos or [],
            train=train,
            val=val,
            image_dir=image_dir,
            train_images=train_images,
            val_images=val_images,
            make_datasets=make_datasets,
            overrides=parse_set_options(set_ or []),
            parent_ref=from_ref,
            note=note,
            command_line=["abyssexp", *sys.argv[1:]],
            force_data=force_data,
            allow_leaks=allow_leaks,
            near_check=not no_near_check,
        )
    )
    _print_created(created, json_output)


def _print_created(created: NewExperiment, json_output: bool) -> None:
    """What ``new`` found and warned about on stderr, the new folder as stdout's last line."""
    if json_output:
        print_json(created.to_json())
        return
    for note in created.notes:
        typer.echo(note, err=True)
    for warning in created.warnings:
        typer.echo(f"warning: {warning}", err=True)
    parent = f" from {created.parent}" if created.parent else ""
    typer.echo(
        f"created {created.project}/{created.experiment_type}/{created.name}{parent}", err=True
    )
    typer.echo(str(created.path))


@functools.cache
def _status_style(status: str) -> str:
    from abyssexp.schemas.record import Status

    styles: dict[str, str] = {
        Status.COMPLETED: "green",
        Status.RUNNING: "cyan",
        Status.FAILED: "red",
        Status.CRASHED: "bold red",
        Status.UNREADABLE: "bold red",
        Status.INTERRUPTED: "yellow",
        Status.PRUNED: "magenta",
        Status.NEW: "dim",
        Status.QUEUED: "blue",
    }
    return styles.get(status, "")


WideOption = Annotated[
    bool, typer.Option("--wide", help="Every column, whatever the terminal's width.")
]


@app.command("list")
def list_command(
    project: Annotated[str | None, typer.Argument(help="Project (glob patterns allowed).")] = None,
    experiment_type: Annotated[
        str | None, typer.Argument(help="Experiment type (globs allowed).")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only these statuses (comma-separated).")
    ] = None,
    sort: Annotated[
        str,
        typer.Option("--sort", help="created, name, number, status, best; prefix - to reverse."),
    ] = "name",
    changed: Annotated[
        bool,
        typer.Option("--changed", help="Add a column for every param that differs between rows."),
    ] = False,
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="KEY OP VALUE on params or listing fields, OP one of = != < <= > >= "
            "(training.lr<1e-3, model.backbone=mobilenet). Repeatable.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only experiments with this tag.")
    ] = None,
    archived: Annotated[
        bool, typer.Option("--archived", help="List the archive (<scratch>/.archive) instead.")
    ] = False,
    sweep: Annotated[
        str | None,
        typer.Option("--sweep", help="Only this sweep's trials (PROJECT/TYPE/sNNN or sNNN)."),
    ] = None,
    wide: WideOption = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show every experiment at a glance: status, epochs, best metric, tests, promotion, tags.
    Slurm jobs are read with one squeue (and one sacct): queued, running, or crashed with
    Slurm's reason."""
    from abyssexp.experiment.index import list_experiments
    from abyssexp.experiment.param_filters import changed_columns, filter_rows

    root = scratch_root(scratch)
    if sweep:
        from abyssexp.sweeps.trials import resolve_sweep

        location = resolve_sweep(sweep, root)
        project, experiment_type = location.sweep.project, location.sweep.type
        changed = True  # a sweep's point is what differs between its trials
    params = bool(filter_) or changed  # each row's params from the index, for these two
    rows = list_experiments(root, project, experiment_type, status, sort, tag, archived, params)
    if sweep:
        from abyssexp.sweeps.selection import Selection, select_roots

        trials = select_roots(root, Selection(sweep=sweep), "list --sweep ID", location)
        names = {folder.name for folder in trials}
        rows = [row for row in rows if row["name"] in names]
    if filter_:
        rows = filter_rows(rows, filter_, keep_flat=changed)
    extra: list[str] = changed_columns(rows) if changed else []
    if json_output:
        print_json(rows)
        return
    if csv_output:
        _print_csv(rows, extra)
        return
    where = f"{root}/.archive" if archived else str(root)
    if not rows:
        what = "/".join(p for p in (project, experiment_type) if p) or where
        print_line(
            f"no {'archived ' if archived else ''}experiments under {what} (scratch: {root})"
        )
        return
    title = f"{'archived ' if archived else ''}experiments in {where}"
    _print_experiments(rows, extra, title, wide, sweep=bool(sweep))


#: list's columns and their priority (``abyssexp.cli.tables``: 0 always, 1 the metrics people
#: sort by, 2 the rest worth reading, 3 and up dropped first).
_LIST_COLUMNS = (
    Column("experiment", key=True),
    Column("status"),
    Column("created", 3),
    Column("epochs", 1),
    Column("best", 1),
    Column("tests", 2),
    Column("promoted", 2),
    Column("tags", 2),
    Column("disk", 4, justify="right"),
)


def _print_experiments(
    rows: list[ListRow], extra: list[str], title: str, wide: bool, sweep: bool = False
) -> None:
    """The ``list`` table (``abyssexp.cli.tables``' policy); a sweep's varied params rank with
    the metrics, since they are what its trials are compared by."""
    varied = 1 if sweep else 2
    columns = [*_LIST_COLUMNS, *(Column(c, varied) for c in extra), Column("note", 4)]
    cells = [_row_cells(row, extra, wide) for row in rows]
    print_table(columns, cells, title, wide=wide)


def _row_cells(row: ListRow, extra: list[str], wide: bool) -> list[Any]:
    epochs = f"{row['epochs_done']}/{row['epochs_total'] or '?'}"
    best = "-"
    if row["best_value"] is not None:
        best = f"{row['best_value']:.4g}@{row['best_epoch']}"
        if wide:
            best = f"{row['best_metric']}={best}"
    tests = ", ".join(_test_cell(c, m, wide) for c, m in sorted(row["tests"].items())) or "-"
    promoted = (",".join(row["aliases"]) or "yes") if row["promoted"] else "-"
    style = _status_style(row["status"])
    status = row["status"]
    if reason := row["status_reason"]:  # Slurm's word: "crashed (CANCELLED)", "queued (Resources)"
        status += f" ({reason.split(': ', 1)[-1]})"
    note = row["note"] or "-"
    return [
        f"{row['project']}/{row['type']}/{row['name']}",
        (status, style),
        (row["created"] or "-").replace("T", " ").removesuffix("Z"),
        epochs,
        best,
        tests,
        promoted,
        ",".join(row.get("tags") or []) or "-",
        human_bytes(row["disk_bytes"]),
        *(_cell(row["changed"].get(c)) for c in extra),
        note,
    ]


def _test_cell(condition: str, result: dict[str, Any], wide: bool) -> str:
    """``cond:0.983 n=60``; wide: ``cond:0.98 [0.95–1.00] n=60`` and the caveats' codes."""
    from abyssexp.experiment.result_digest import caveat_codes, format_metric, interval_of

    value = (result or {}).get("accuracy")
    interval = interval_of(result, "accuracy")
    if not wide:
        n = (interval or {}).get("n")
        text = f"{value:.3f}" if isinstance(value, int | float) else "-"
        return f"{condition}:{text}" + (f" n={n}" if n is not None else "")
    codes = caveat_codes(result)
    return f"{condition}:{format_metric(value, interval)}" + (
        f" ({', '.join(codes)})" if codes else ""
    )


def _cell(value: Any) -> str:
    return "-" if value is None else (json.dumps(value) if not isinstance(value, str) else value)


def _print_csv(rows: list[ListRow], extra: list[str]) -> None:
    import csv

    from abyssexp.experiment.list_rows import ROW_FIELDS

    # Every listing field but those that only locate the experiment or its parent.
    columns = [f for f in ROW_FIELDS if f not in ("number", "path", "parent")]
    writer = csv.writer(sys.stdout)
    writer.writerow(columns + extra + ["tests"])
    for row in rows:
        writer.writerow(
            [",".join(row["tags"]) if c == "tags" else row.get(c) for c in columns]
            + [_cell(row["changed"].get(c)) for c in extra]
            + [json.dumps(row["tests"])]
        )


@app.command("show")
def show_command(
    ref: Annotated[
        str, typer.Argument(help="Experiment: folder, PROJECT/TYPE/NNN or PROJECT/TYPE/NAME.")
    ],
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show an experiment: record, params that differ from the defaults (and from the parent),
    provenance and folder contents."""
    from abyssexp.experiment.show import describe_experiment

    info = describe_experiment(ref, scratch_root(scratch))
    if json_output:
        print_json(info)
        return
    _print_show(info)


_RECORD_FIELDS = (
    "status",
    "created",
    "user",
    "parent",
    "epochs_done",
    "epochs_total",
    "best",
    "train_seconds",
    "promotions",
    "note",
    "status_reason",
    "error",
    "problem",
    "slurm",
    "params_changes",
)


def _print_show(info: ExperimentDescription) -> None:
    """``show``: the path whole, then record, params and contents by the table policy."""
    record = info["record"]
    print_line(str(info["path"]))
    fields = [
        (key, _record_value(key, record[key]))
        for key in _RECORD_FIELDS
        if record.get(key) not in (None, "", [], {})
    ]
    print_fields("record", fields)
    _print_tests(record.get("tests") or {})
    _print_data_notes(record)
    if info["params_problem"]:
        print_line(f"params: unreadable: {info['params_problem']}")
    if info["params_changed"]:
        columns = [
            Column("param", key=True),
            Column("value"),
            Column("default", 2),
            Column("parent", 2),
        ]
        rows = [
            [
                (key, "yellow") if entry.get("differs_from_parent") else key,
                _cell(entry["value"]),
                _cell(entry["default"]),
                _cell(entry.get("parent")),
            ]
            for key, entry in info["params_changed"].items()
        ]
        print_table(columns, rows, "params that differ")
    elif not info["params_problem"]:
        print_line("params: all defaults")
    git = info["provenance"].get("git", {})
    if git:
        dirty = " (dirty)" if git.get("dirty") else ""
        print_line(f"git: {git.get('commit') or git.get('note')}{dirty} {git.get('branch') or ''}")
    contents = [
        (
            folder,
            f"{human_bytes(entry['bytes'])}: "
            + ", ".join(entry["files"][:8])
            + (f" and {len(entry['files']) - 8} more" if len(entry["files"]) > 8 else ""),
        )
        for folder, entry in info["contents"].items()
    ]
    print_fields("contents", contents)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _record_value(key: str, value: Any) -> Any:
    """A record field as a person reads it (a list: one line each), not raw JSON."""
    if key == "best" and isinstance(value, dict):
        return f"{value.get('metric')} {_number(value.get('value'))} at epoch {value.get('epoch')}"
    if key == "train_seconds":
        return f"{_number(value)} s over every train"
    if key == "tests" and isinstance(value, dict):
        return [f"{condition}: {_summary(entry)}" for condition, entry in sorted(value.items())]
    if key == "promotions" and isinstance(value, list):
        return [
            f"{p.get('path')} ({p.get('checkpoint')}, {p.get('time')}"
            + (f", aliases {', '.join(p['aliases'])}" if p.get("aliases") else "")
            + ")"
            for p in value
            if isinstance(p, dict)
        ]
    if key == "params_changes" and isinstance(value, list):
        return [
            f"{c.get('time')}: "
            + ", ".join(
                f"{name} {_cell(change.get('from'))} → {_cell(change.get('to'))}"
                for name, change in (c.get("changes") or {}).items()
                if isinstance(change, dict)
            )
            for c in value
            if isinstance(c, dict)
        ]
    if isinstance(value, dict):
        return _summary(value)
    return _cell(value)


def _summary(entry: Any) -> str:
    """``accuracy 0.375, macro_f1 0.1818 (images 24, checkpoint best.keras)``: numbers first."""
    if not isinstance(entry, dict):
        return _cell(entry)
    numbers = [
        f"{k} {_number(v)}"
        for k, v in entry.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "images"
    ]
    others = [
        f"{k} {_cell(v)}"
        for k, v in entry.items()
        if k == "images" or not isinstance(v, int | float) or isinstance(v, bool)
    ]
    return ", ".join(numbers) + (f" ({', '.join(others)})" if others else "")


def _print_tests(tests: dict[str, Any]) -> None:
    """Each test condition's metrics with their interval and n, its overlap, and its caveats."""
    if not tests:
        return
    from abyssexp.experiment.result_digest import caveat_messages, summary_metric

    rows = []
    for condition, result in sorted(tests.items()):
        for metric in ("accuracy", "macro_f1", "mAP"):
            if isinstance((result or {}).get(metric), int | float):
                rows.append([condition, metric, summary_metric(result, metric)])
        if (result or {}).get("overlap") is not None:
            rows.append([condition, "overlap", str(result["overlap"])])
    columns = [Column("condition", key=True), Column("metric"), Column("value [95 % interval] n")]
    print_table(columns, rows, "tests")
    for line in caveat_messages(tests):
        err.print(f"[yellow]caveat:[/] {escape(line)}", soft_wrap=True)


def _print_data_notes(record: dict[str, Any]) -> None:
    """What ``new`` warned about the data, and the data problems it was told to accept."""
    for warning in record.get("data_warnings") or []:
        print_line(f"data warning: {warning}")
    for override in record.get("data_overrides") or []:
        for problem in override.get("problems", []):
            print_line(f"data accepted with {override.get('flag')}: {problem}")


@app.command("schema")
def schema_command(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print docs/params.md instead.")
    ] = False,
) -> None:
    """Print the JSON Schema of params.json."""
    if markdown:
        from abyssexp.schemas.docs import render_params_markdown

        typer.echo(render_params_markdown(), nl=False)
        return
    from abyssexp.schemas.params import Params

    print_json(Params.model_json_schema())

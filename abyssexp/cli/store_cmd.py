"""``promote``, ``promoted``, ``verify``, ``gc``, ``store repair``: scratch to permanent storage.

No TensorFlow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from abyssexp.cli.app import app
from abyssexp.cli.console import err, human_bytes, out, print_json, progress_bar
from abyssexp.cli.options import JsonOption, ScratchOption, StoreOption, scratch_root, store_root

if TYPE_CHECKING:
    from abyssexp.config import StoreURL
    from abyssexp.experiment.layout import ExperimentPaths
    from abyssexp.store.promotion import PromoteResult

RequireOption = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        help="CONDITION:METRIC>=VALUE that must hold (repeatable). Gate on the interval's "
        "low end, e.g. test:accuracy.low>=0.8: the point value alone can pass by luck.",
    ),
]
RequireOnOption = Annotated[
    str,
    typer.Option(
        "--require-on",
        help="What a --require without .low/.high compares: value, low or high (the "
        "95 % interval's ends). low is the safe gate.",
    ),
]
AcceptOption = Annotated[
    str | None,
    typer.Option(
        "--accept",
        help="Go ahead despite these blocking caveats (comma-separated: "
        "constant_predictions, small_test_set, overlap, data_override); recorded.",
    ),
]

store_app = typer.Typer(help="Look after the permanent store.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@app.command("promote")
def promote_command(
    ref: Annotated[
        str, typer.Argument(help="Experiment: folder, PROJECT/TYPE/NNN or PROJECT/TYPE/NAME.")
    ],
    checkpoint: Annotated[
        str, typer.Option("--checkpoint", help="best or an epoch number.")
    ] = "best",
    require: RequireOption = None,
    require_on: RequireOnOption = "value",
    accept: AcceptOption = None,
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", help="Point an alias (production, candidate...) at it."),
    ] = None,
    move: Annotated[
        bool,
        typer.Option("--move", help="Then free the scratch checkpoints that were not promoted."),
    ] = False,
    force_untested: Annotated[
        bool, typer.Option("--force-untested", help="Promote without a testing condition.")
    ] = False,
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            help="Also export, checked for parity: savedmodel, onnx, litert (comma-separated).",
        ),
    ] = None,
    scratch: ScratchOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Copy a validated model to <store>/<project>/<type>/<name>/ with a checksum manifest, as a
    transaction, and record it in the store registry."""
    from abyssexp.experiment.caveats import parse_accepted
    from abyssexp.experiment.refs import resolve_ref
    from abyssexp.store.backend import promote_experiment
    from abyssexp.store.promotion import parse_requirement

    requirements = [parse_requirement(r, require_on) for r in require or []]
    accepted = parse_accepted(accept)
    paths = resolve_ref(ref, scratch_root(scratch))
    make_exports = _exporter(paths, export) if export else None
    with progress_bar("copying", quiet=json_output, transfer=True) as report_progress:
        result = promote_experiment(
            paths,
            store_root(store),
            checkpoint=checkpoint,
            requirements=requirements,
            aliases=alias or [],
            move=move,
            force_untested=force_untested,
            progress=report_progress,
            make_exports=make_exports,
            accepted=accepted,
        )
    if json_output:
        print_json(result.to_json())
        return
    _print_promotion(result, move)


def _print_promotion(result: PromoteResult, move: bool) -> None:
    for condition, caveats in sorted((result.caveats or {}).items()):
        for caveat in caveats:  # --require may hold while these do: say them, they travel along
            err.print(
                f"[yellow]caveat:[/] {escape(condition)}: {escape(str(caveat.get('message')))}",
                soft_wrap=True,
            )
    aliases = f" (aliases: {', '.join(result.aliases)})" if result.aliases else ""
    if result.finished_interrupted:
        out.print(f"finished the interrupted promotion of {result.destination}{aliases}")
        if move:
            out.print(f"freed {human_bytes(result.freed_bytes)} of scratch checkpoints")
        return
    out.print(
        f"promoted {result.checkpoint} → {result.destination}{aliases}: {result.files} files, {human_bytes(result.bytes)}"
    )
    if move:
        out.print(f"freed {human_bytes(result.freed_bytes)} of scratch checkpoints")
    if result.exports:
        from abyssexp.cli.deploy_cmd import print_parity

        print_parity("exports, checked against the Keras model", result.exports)


def _codes_shown(codes: list[str], accepted: set[str]) -> str:
    """`` (small_test_set accepted, small_class)``: a result's caveat codes, each blocking one
    that was promoted with ``--accept`` marked so."""
    if not codes:
        return ""
    return " (" + ", ".join(f"{c} accepted" if c in accepted else c for c in codes) + ")"


def _exporter(paths: ExperimentPaths, formats: str) -> Callable[[Path], Path]:
    """``promote --export``: the checkpoint's exports, made and checked for parity (this loads
    TensorFlow) once the promotion's plan holds; their folder travels with the promotion."""
    from abyssexp.models.export import parse_formats

    chosen = parse_formats(formats)  # a bad format stops the command before anything else

    def make(checkpoint: Path) -> Path:
        from abyssexp.evaluation.export_parity import export_experiment

        return export_experiment(paths, checkpoint, chosen)

    return make


@app.command("promoted")
def promoted_command(
    project: Annotated[str | None, typer.Argument(help="Project.")] = None,
    experiment_type: Annotated[str | None, typer.Argument(help="Experiment type.")] = None,
    history: Annotated[
        str | None,
        typer.Option("--history", help="Show how ALIAS (or PROJECT/TYPE@ALIAS) moved instead."),
    ] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, whatever the terminal's width.")
    ] = False,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List promoted models with their aliases, test metrics and dates."""
    from abyssexp.store.backend import open_store

    root = store_root(store)
    if history is not None:
        _print_alias_history(root, history, json_output)
        return
    rows = open_store(root).list_promoted(project, experiment_type)
    if json_output:
        print_json(rows)
        return
    if not rows:
        out.print(f"nothing promoted in {root}")
        return
    from abyssexp.cli.tables import Column, print_table

    columns = [
        Column("model", key=True),
        Column("aliases"),
        Column("checkpoint", 2),
        Column("tests", 1),
        Column("promoted", 3),
        Column("size", 2, justify="right"),
    ]
    from abyssexp.experiment.result_digest import caveat_codes, caveat_messages, summary_metric

    cells, warnings = [], []
    for row in rows:
        name = f"{row.get('project')}/{row.get('type')}/{row['name']}"
        carried = row.get("caveats") or {}  # copied at promotion, old results' included
        results = {
            c: {**(m or {}), "caveats": carried.get(c, (m or {}).get("caveats"))}
            for c, m in (row.get("tests") or {}).items()
        }
        accepted = set(row.get("accepted_caveats") or [])
        tests = (
            ", ".join(
                f"{c}:{summary_metric(m)}" + _codes_shown(caveat_codes(m), accepted)
                for c, m in sorted(results.items())
            )
            or "-"
        )
        warnings += [f"{name} {line}" for line in caveat_messages(results)]
        cells.append(
            [
                name,
                ", ".join(row["aliases"]) or "-",
                row.get("checkpoint") or "?",
                tests,
                row.get("promoted") or "?",
                human_bytes(row.get("bytes") or 0),
            ]
        )
    print_table(columns, cells, f"promoted models in {root}", wide=wide)
    for line in warnings:
        err.print(f"[yellow]caveat:[/] {escape(line)}", soft_wrap=True)


@app.command("verify")
def verify_command(
    store_path: Annotated[
        str,
        typer.Argument(
            help="A promoted model's folder in the store, or its URL (s3://BUCKET/.../NAME).",
            metavar="STORE_PATH",
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Re-check a promoted model against its MANIFEST.sha256 (in an object store, every object
    is read back and hashed). Exit 1 on any difference."""
    from abyssexp.store.backend import open_promoted

    problems = open_promoted(store_path, "verify").verify()
    if json_output:
        print_json({"path": str(store_path), "ok": not problems, "problems": problems})
    elif not problems:
        out.print(f"[green]intact[/]: {store_path}")
    for problem in problems if not json_output else []:
        err.print(f"[bold red]error:[/] {escape(f'{store_path}: {problem}')}")
    if problems:
        raise typer.Exit(1)


@app.command("gc")
def gc_command(
    ref: Annotated[str | None, typer.Argument(help="One experiment (or use --all).")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every experiment under the scratch root.")
    ] = False,
    keep: Annotated[
        str, typer.Option("--keep", help="What to keep: best, last and/or the newest N.")
    ] = "best,last,3",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove checkpoints outside the retention policy (never best or a promoted one) and report
    the disk space freed per experiment and in total."""
    from abyssexp.errors import InvalidInputError
    from abyssexp.experiment.gc import collect_all_garbage, collect_garbage, parse_keep
    from abyssexp.experiment.refs import resolve_ref

    policy = parse_keep(keep)
    root = scratch_root(scratch)
    if all_ == (ref is not None):
        raise InvalidInputError("gc: give one experiment REF or --all")
    if all_ or ref is None:  # (None only with --all, after the check above)
        reports, skipped = collect_all_garbage(root, policy, dry_run)
    else:
        reports, skipped = [collect_garbage(resolve_ref(ref, root), policy, dry_run)], []
    total = sum(r.freed_bytes for r in reports)
    for line in skipped:
        err.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    if json_output:
        print_json(
            {
                "dry_run": dry_run,
                "freed_bytes": total,
                "experiments": [r.to_json() for r in reports],
                "skipped": skipped,
            }
        )
        return
    from abyssexp.cli.tables import Column, print_table

    verb = "would free" if dry_run else "freed"
    columns = [Column("experiment", key=True), Column("removed", 2), Column(verb, justify="right")]
    rows = [[str(r.path), ", ".join(r.removed) or "-", human_bytes(r.freed_bytes)] for r in reports]
    print_table(columns, rows)
    out.print(f"{verb} {human_bytes(total)} in total")


def _print_alias_history(store: Path | StoreURL, reference: str, json_output: bool) -> None:
    from abyssexp.store.backend import open_store

    moves = open_store(store).alias_history(reference)
    if json_output:
        print_json(moves)
        return
    if not moves:
        out.print(f"no moves of {reference} in {store}")
        return
    from abyssexp.cli.tables import Column, print_table

    columns = [
        Column("time (UTC)"),
        Column("alias", key=True),
        Column("from"),
        Column("to"),
        Column("by", 2),
    ]
    rows = [
        [
            move["time"].replace("T", " ")[:16],
            f"{move['location']}@{move['alias']}",
            move["from"] or "-",
            move["to"] or "-",
            f"{move['user']}, {move['via']}",
        ]
        for move in moves
    ]
    print_table(columns, rows, f"history of {reference}")


alias_app = typer.Typer(help="Point aliases at promoted models without promoting again.")
app.add_typer(alias_app, name="alias")


@alias_app.command("set")
def alias_set_command(
    location: Annotated[str, typer.Argument(help="PROJECT/TYPE.", metavar="PROJECT/TYPE")],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. production.")],
    name: Annotated[str, typer.Argument(help="A promoted model's name in that location.")],
    accept: AcceptOption = None,
    store: StoreOption = None,
) -> None:
    """Point ALIAS at a promoted model (the move is kept in the alias history)."""
    from abyssexp.experiment.caveats import parse_accepted
    from abyssexp.store.backend import open_store

    open_store(store_root(store)).set_alias(location, alias, name, parse_accepted(accept))
    out.print(f"{location}@{alias} → {name}")


@alias_app.command("rm")
def alias_rm_command(
    location: Annotated[str, typer.Argument(help="PROJECT/TYPE.", metavar="PROJECT/TYPE")],
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
    store: StoreOption = None,
) -> None:
    """Remove ALIAS; the model stays promoted (the removal is kept in the alias history)."""
    from abyssexp.store.backend import open_store

    open_store(store_root(store)).remove_alias(location, alias)
    out.print(f"removed {location}@{alias}")


@store_app.command("repair")
def repair_command(
    store: StoreOption = None, scratch: ScratchOption = None, json_output: JsonOption = False
) -> None:
    """Rebuild registry.json from the promoted folders and finish interrupted promotions.

    A registry that does not parse is kept as registry.json.broken-<time>.

    Unregistered promotions are registered and sealed; this host's stale temporaries removed.

    A promotion is recorded in its experiment only under --scratch, when that experiment's
    checkpoint is the promoted one.

    Exit 1 if a problem is left (listed on stderr)."""
    from abyssexp.store.backend import open_store

    report = open_store(store_root(store)).repair(scratch_root(scratch))
    if json_output:
        print_json(report.to_json())
    else:
        if report.broken_registry_kept_as:
            out.print(f"kept the unparseable registry as {report.broken_registry_kept_as}")
        out.print(
            f"{report.store}: {report.indexed} promoted models indexed "
            f"({len(report.added)} added, {len(report.dropped)} dropped)"
        )
        for label, items in (
            ("registered", report.added),
            ("dropped (folder gone)", report.dropped),
            ("alias", report.aliases_assigned),
            ("sealed read-only", report.sealed),
            ("recorded the promotion in", report.records_completed),
            ("removed stale temporary", report.temporaries_removed),
        ):
            for item in items:
                out.print(f"{label}: {item}")
        for temporary in report.temporaries_left:
            out.print(f"left temporary: {temporary['why']}")
        for problem in report.problems:
            err.print(f"[bold red]problem:[/] {problem}", soft_wrap=True)
    if report.problems:
        raise typer.Exit(1)

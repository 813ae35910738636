"""``mlflow sync``: mirror experiments into an MLflow tracking server's UI (optional extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import print_json, print_line
from abyssexp.cli.options import JsonOption, ScratchOption, scratch_root

mlflow_app = typer.Typer(
    name="mlflow",
    help="Browse experiments in MLflow's UI: each one mirrored as an MLflow run.",
    no_args_is_help=True,
)
app.add_typer(mlflow_app)


@mlflow_app.command("sync")
def sync_command(
    refs: Annotated[
        list[str] | None,
        typer.Argument(help="Experiments: folders, PROJECT/TYPE/NNN or patterns (p/t/*)."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every experiment of the scratch.")] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="With --all: delete the runs this scratch made on this host whose folder is "
            "gone (never another scratch's or host's).",
        ),
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="A folder, sqlite:///FILE or http://HOST:PORT (default: MLFLOW_TRACKING_URI).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Send every run again, also those whose files did not change since their "
            "last sync (e.g. after deleting runs in MLflow's UI).",
        ),
    ] = False,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Mirror experiments into MLflow: one run each in the MLflow experiment PROJECT/TYPE,
    with params, per-epoch and test metrics, tags, note, status, parent and git commit. A
    second sync updates the same runs and adds only new epochs; an experiment whose files did
    not change since its last sync is skipped without asking the server."""
    from dataclasses import asdict

    from abyssexp.errors import InvalidInputError
    from abyssexp.integrations.mlflow_mirror import (
        check_tracking_uri,
        load_client,
        sync_experiments,
    )
    from abyssexp.sweeps.selection import Selection, select_roots

    root = scratch_root(scratch)
    check_tracking_uri(tracking_uri, root)
    selection = Selection(refs=tuple(refs or []), every=all_)
    usage = "mlflow sync: give experiments (REFS) or --all, one of the two"
    if bool(refs) == all_:
        raise InvalidInputError(usage)
    if prune and not all_:
        raise InvalidInputError("mlflow sync --prune: only with --all (every experiment)")
    load_client(tracking_uri)  # says how to install MLflow before reading any experiment
    folders = select_roots(root, selection, usage)
    results = sync_experiments(root, folders, tracking_uri, prune_missing=prune, force=force)
    if json_output:
        print_json([asdict(r) for r in results])
        return
    unchanged = sum(result.unchanged for result in results)
    for result in results:
        if result.unchanged:
            continue
        if result.deleted:
            print_line(f"deleted  {result.experiment} (folder gone)  run {result.run_id}")
        else:
            verb = "created" if result.created else "updated"
            print_line(
                f"{verb}  {result.experiment}  run {result.run_id}  +{result.new_points} points"
            )
    if unchanged:
        print_line(f"unchanged  {unchanged} experiment(s) (files as at their last sync; --force)")

"""``tag``, ``untag``, ``note``, ``archive``, ``restore`` and ``rm``: looking after experiments.

No TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import err, human_bytes, print_json, print_line
from abyssexp.cli.options import JsonOption, ScratchOption, scratch_root

if TYPE_CHECKING:  # the results' types only: the commands import their modules when they run
    from abyssexp.experiment.annotate import Annotated as AnnotatedExperiment
    from abyssexp.experiment.archive import Moved

RefArgument = Annotated[
    str, typer.Argument(help="Experiment: folder, PROJECT/TYPE/NNN or PROJECT/TYPE/NAME.")
]


@app.command("tag")
def tag_command(
    ref: RefArgument,
    tags: Annotated[list[str], typer.Argument(help="Tags, e.g. baseline candidate.")],
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add tags to an experiment (`list --tag NAME` and `compare --tag NAME` select by them)."""
    from abyssexp.experiment.annotate import tag_experiment, validate_tags
    from abyssexp.experiment.refs import resolve_ref

    done = tag_experiment(resolve_ref(ref, scratch_root(scratch)), validate_tags(tags), [])
    _print_annotated(done, json_output)


@app.command("untag")
def untag_command(
    ref: RefArgument,
    tags: Annotated[list[str], typer.Argument(help="Tags to remove.")],
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove tags from an experiment."""
    from abyssexp.experiment.annotate import tag_experiment, validate_tags
    from abyssexp.experiment.refs import resolve_ref

    done = tag_experiment(resolve_ref(ref, scratch_root(scratch)), [], validate_tags(tags))
    _print_annotated(done, json_output)


@app.command("note")
def note_command(
    ref: RefArgument,
    purpose: Annotated[
        str | None, typer.Argument(help="The new purpose (record and readme.txt).")
    ] = None,
    conclusion: Annotated[
        str | None,
        typer.Option("--conclusion", help="Fill readme.txt's conclusion section."),
    ] = None,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Change an experiment's purpose, and/or write its conclusion in readme.txt."""
    from abyssexp.experiment.annotate import note_experiment
    from abyssexp.experiment.refs import resolve_ref

    done = note_experiment(resolve_ref(ref, scratch_root(scratch)), purpose, conclusion)
    _print_annotated(done, json_output)


def _print_annotated(done: AnnotatedExperiment, json_output: bool) -> None:
    if json_output:
        print_json(done.to_json())
        return
    tags = ", ".join(done.tags) or "(none)"
    err.print(f"tags: {tags}", soft_wrap=True, markup=False)
    print_line(str(done.path))


@app.command("archive")
def archive_command(
    ref: RefArgument, scratch: ScratchOption = None, json_output: JsonOption = False
) -> None:
    """Move an experiment to <scratch>/.archive/ (hidden from `list`; `list --archived` shows
    it, `restore` brings it back). Its number is never reused."""
    from abyssexp.experiment.archive import archive_experiment

    moved = archive_experiment(ref, scratch_root(scratch))
    _print_moved("archived", moved, json_output)


@app.command("restore")
def restore_command(
    ref: Annotated[str, typer.Argument(help="Archived experiment: PROJECT/TYPE/NNN or folder.")],
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move an archived experiment back into the scratch tree."""
    from abyssexp.experiment.archive import restore_experiment

    moved = restore_experiment(ref, scratch_root(scratch))
    _print_moved("restored", moved, json_output)


def _print_moved(verb: str, moved: Moved, json_output: bool) -> None:
    if json_output:
        print_json(moved.to_json())
        return
    err.print(f"{verb} {moved.source}", soft_wrap=True, markup=False)
    print_line(str(moved.target))


@app.command("rm")
def rm_command(
    ref: RefArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    scratch: ScratchOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete an experiment that was never promoted: it goes to the archive first, then is
    removed from there. Asks first unless --yes."""
    from abyssexp.experiment.archive import plan_removal, remove_experiment

    removal = plan_removal(ref, scratch_root(scratch))
    if not yes:
        question = f"remove {removal.paths.root} ({human_bytes(removal.bytes)})?"
        if not typer.confirm(question, default=False, err=True):
            err.print("nothing removed")
            raise typer.Exit(1)
    removed = remove_experiment(removal)
    if json_output:
        print_json({**removal.to_json(), "removed": str(removed)})
        return
    err.print(f"removed ({human_bytes(removal.bytes)})")
    print_line(str(removal.paths.root))

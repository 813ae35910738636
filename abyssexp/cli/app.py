"""The Typer application and its error boundary.

One place maps failures to exit codes: ``InvalidInputError`` → 2 (one line per problem),
any other ``AbyssExpError`` → 1 (one red line), Ctrl-C → 130. ``--debug`` (or ``ABYSSEXP_DEBUG=1``)
shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Protocol, cast

import typer
from typer.core import TyperGroup

from abyssexp.errors import AbyssExpError, InvalidInputError
from abyssexp.tf_runtime import (
    configure_tensorflow_environment,
    quiet_tensorflow_imports,
    show_tensorflow_messages,
)

#: Click's usage error (a bad option or value), reached through its public subclass
#: ``typer.BadParameter``: Typer >= 0.20 parses with a copy of Click kept in a private module,
#: older Typer with Click itself, and either way this is the class it raises.
UsageError: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError"
)


class _Usage(Protocol):
    """What a Click usage error carries: its command's context and its one-line message."""

    ctx: Any

    def format_message(self) -> str: ...


def _asks_for_help(exc: Exception) -> bool:
    """Click's "no arguments: show the help" (a group's ``no_args_is_help``), raised as a usage
    error of its own class (Click >= 8.2), which Typer does not export: known by its name."""
    return type(exc).__name__ == "NoArgsIsHelpError"


configure_tensorflow_environment()  # before any command imports TensorFlow
quiet_tensorflow_imports()  # whichever command imports it, its C++ start-up noise stays out

_DEBUG = {"on": False}


def debug_enabled() -> bool:
    return _DEBUG["on"] or os.environ.get("ABYSSEXP_DEBUG", "") not in ("", "0")


class ErrorBoundaryGroup(TyperGroup):
    """Turns abyssexp errors into one clear line and an exit code; lists commands in the
    lifecycle's order (``abyssexp.cli.help``)."""

    def list_commands(self, ctx: Any) -> list[str]:
        from abyssexp.cli.help import lifecycle_order

        return lifecycle_order(super().list_commands(ctx))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Click's public hook for the command list: one section per lifecycle panel, the
        names in one aligned column across the sections."""
        from abyssexp.cli.help import panel_sections

        commands = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        shown = {name: c for name, c in commands.items() if c is not None and not c.hidden}
        if not shown:
            return
        width = max(len(name) for name in shown)
        limit = formatter.width - 6 - width
        for panel, members in panel_sections(list(shown)):
            rows = [(n.ljust(width), shown[n].get_short_help_str(limit)) for n in members]
            with formatter.section(panel):
                formatter.write_dl(rows)

    def invoke(self, ctx: Any) -> Any:
        from abyssexp.cli.console import error_line

        try:
            return super().invoke(ctx)
        except InvalidInputError as exc:
            if debug_enabled():
                raise
            for line in exc.problems:
                error_line(line)
            raise typer.Exit(exc.exit_code) from None
        except AbyssExpError as exc:
            if debug_enabled():
                raise
            for line in getattr(exc, "problems", None) or [str(exc)]:
                error_line(line)
            raise typer.Exit(exc.exit_code) from None
        except UsageError as exc:
            # A bad option or value of a command (`--top-k 0`, a missing `--coco`): one line
            # like every other error, not Typer's usage box; a bare group still shows its help.
            if debug_enabled() or _asks_for_help(exc):
                raise
            usage = cast(_Usage, exc)
            command = usage.ctx.command_path if usage.ctx else "abyssexp"
            error_line(
                f"{command}: {usage.format_message()} (`{command} --help` lists the options)"
            )
            raise typer.Exit(2) from None
        except BrokenPipeError:
            # The reader went away (`abyssexp list | head`): nothing left to say to it.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except OSError as exc:
            # A file-system failure (disk full, permissions) is still one line, not a traceback.
            if debug_enabled():
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            error_line(f"{where}{exc.strerror or exc}; rerun with --debug for the traceback")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            if debug_enabled():
                raise
            error_line("interrupted")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=ErrorBoundaryGroup,
    name="abyssexp",
    help="Train Keras image classifiers from COCO datasets and keep every experiment in order.\n\n"
    "Experiments live in <scratch>/<project>/<type>/<NNN>.<dataset-info>.<info>... "
    "(see `abyssexp config`).",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    # Click's formatter draws help (Typer's public switch): it keeps long option names whole
    # at 80 columns with no reach into Typer's Rich tables (issue 32, item 5).
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"abyssexp {version('abyssexp')}")
        except PackageNotFoundError:  # a source checkout that was never installed
            from abyssexp import __version__

            typer.echo(f"abyssexp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="Show TensorFlow's own start-up messages (CUDA, oneDNN, XLA)."
        ),
    ] = False,
    _show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    from abyssexp.cli.console import fit_to_environment

    _DEBUG["on"] = debug
    fit_to_environment()
    if verbose:
        show_tensorflow_messages()


def _register() -> None:
    # Command modules import only the core they need at call time, so --help stays fast.
    from abyssexp.cli import (  # noqa: F401
        annotate_cmd,
        augment_cmd,
        cache_cmd,
        compare_cmd,
        data_cmd,
        demo_cmd,
        deploy_cmd,
        experiments_cmd,
        labels_cmd,
        mlflow_cmd,
        serve_cmd,
        store_cmd,
        sweep_cmd,
        test_cmd,
        train_cmd,
    )


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Command lists show each command's first paragraph as one line that Click wraps to the
    terminal, not the docstring's own line breaks (ragged at 80 columns)."""
    import inspect

    for command in typer_app.registered_commands:
        doc = command.help or inspect.getdoc(command.callback) or ""
        if command.short_help is None and doc:
            command.short_help = " ".join(doc.split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            info = group.typer_instance.info
            text = group.help if isinstance(group.help, str) else info.help
            if isinstance(text, str) and not isinstance(info.short_help, str):  # not given
                # (Typer's default is a placeholder object, not None)
                info.short_help = " ".join(text.split("\n\n")[0].split())
            _one_line_summaries(group.typer_instance)


def _completers() -> None:
    from abyssexp.cli.completion import install_completers

    install_completers(app)  # names of experiments, aliases, sweeps, conditions, --set keys


_register()
_one_line_summaries(app)
_completers()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - outside a command
        sys.exit(130)

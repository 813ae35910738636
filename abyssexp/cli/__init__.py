"""The ``abyssexp`` command line: thin Typer commands over the core."""

from abyssexp.cli.app import app, main

__all__ = ["app", "main"]

"""One exception root for abyssexp.

The CLI boundary (``abyssexp.cli.app``) maps these to exit codes in one place: user-input
validation problems exit 2, every other ``AbyssExpError`` exits 1. Messages name the problem, the
file or field, the value received and what to do next, because they are the only line a user sees.
"""

from __future__ import annotations


class AbyssExpError(Exception):
    """Root of every error abyssexp raises on purpose."""

    exit_code: int = 1


class InvalidInputError(AbyssExpError):
    """Bad user input: a name, a ``--set`` value, a params field, a CLI literal.

    ``problems`` holds one line per problem so the CLI can print them all at once.
    """

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class ExperimentNotFoundError(AbyssExpError):
    """An experiment reference matched nothing, or more than one experiment."""


class DatasetError(AbyssExpError):
    """A COCO file, category map or image cannot be used."""


class ExperimentStateError(AbyssExpError):
    """The experiment is in the wrong state for the command (running, no checkpoint, ...)."""


class StoreError(AbyssExpError):
    """Promotion to, or verification of, the permanent store failed."""


class OptionalDependencyError(AbyssExpError):
    """An optional backend (imgaug, ImageNet weights) is not available here."""

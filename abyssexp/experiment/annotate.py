"""``tag``, ``untag`` and ``note``: what people say about an experiment.

Tags and the purpose live in the record (changed through ``abyssexp.experiment.record_file``); the
purpose and the conclusion are also sections of ``readme.txt``, which is edited in place, section by
section, so whatever else people wrote there is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from abyssexp.atomic import atomic_write_text
from abyssexp.errors import InvalidInputError, printable
from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.naming import validate_part
from abyssexp.experiment.record_file import set_note, set_tags
from abyssexp.locks import file_lock

PURPOSE_SECTION = "Purpose"
CONCLUSION_SECTION = "Conclusion"
README_LOCK = ".readme.lock"


@dataclass(frozen=True)
class Annotated:
    """What an annotation command changed."""

    path: Path
    tags: list[str]
    note: str
    readme: Path

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "tags": self.tags,
            "note": self.note,
            "readme": str(self.readme),
        }


def validate_tags(tags: list[str]) -> list[str]:
    """Each tag follows the rules of a name part (letters, digits, ``-``, ``_``, ``+``)."""
    if not tags:
        raise InvalidInputError("tag: give at least one tag name, e.g. baseline")
    return [validate_part(tag, "tag") for tag in tags]


def tag_experiment(paths: ExperimentPaths, add: list[str], remove: list[str]) -> Annotated:
    """Add and/or remove tags; returns the tags now set."""
    record = set_tags(paths.record, add=add, remove=remove)
    return Annotated(paths.root, list(record.tags), record.note or "", paths.readme)


def note_experiment(
    paths: ExperimentPaths, purpose: str | None = None, conclusion: str | None = None
) -> Annotated:
    """Set the purpose (record and readme.txt) and/or readme.txt's conclusion section."""
    if purpose is None and conclusion is None:
        raise InvalidInputError('note: give the purpose text, or --conclusion "..."')
    for text, what in ((purpose, "purpose"), (conclusion, "--conclusion")):
        if text is not None:
            check_note_text(text, what)
    record = set_note(paths.record, purpose.strip()) if purpose is not None else None
    with file_lock(paths.root / README_LOCK, what="readme.txt"):
        text = paths.readme.read_text() if paths.readme.is_file() else ""
        if purpose is not None:
            text = replace_section(text, PURPOSE_SECTION, purpose.strip())
        if conclusion is not None:
            text = replace_section(text, CONCLUSION_SECTION, conclusion.strip())
        atomic_write_text(paths.readme, text)
    if record is None:
        from abyssexp.experiment.record_file import read_record

        record = read_record(paths.record)
    return Annotated(paths.root, list(record.tags), record.note or "", paths.readme)


def check_note_text(text: str, what: str, command: str = "note") -> None:
    """A note is plain text that cannot rewrite readme.txt's sections or drive a terminal: the
    one rule for ``note`` and ``new --note`` (``command`` starts the message).

    Raises:
        InvalidInputError: empty, holds control characters, or a line of dashes (which would
            turn the line above it into a section title of readme.txt).
    """
    if not text.strip():
        raise InvalidInputError(f"{command}: the {what} is empty; give some text")
    spaced = text.replace("\t", " ")
    if printable(spaced) != spaced:
        raise InvalidInputError(
            f"{command}: the {what} holds control characters (terminal escapes?); give plain text"
        )
    if _UNDERLINE.search(text):
        raise InvalidInputError(
            f"{command}: the {what} has a line of dashes ('---'), which would start a new section of "
            "readme.txt; write it another way"
        )


_UNDERLINE = re.compile(r"^\s*-{3,}\s*$", re.M)
_HEADER = re.compile(r"^(?P<title>[^\n]+)\n-{3,}\n", re.M)


def replace_section(text: str, title: str, body: str) -> str:
    """readme.txt with the section ``title`` (a line underlined with ``---``) holding ``body``;
    the section is appended when the file has none.

    Example:
        >>> replace_section("Purpose\\n-------\\nold\\n\\nNext\\n----\\nx\\n", "Purpose", "new")
        'Purpose\\n-------\\nnew\\n\\nNext\\n----\\nx\\n'
    """
    headers = list(_HEADER.finditer(text))
    for index, header in enumerate(headers):
        if header.group("title").strip() != title:
            continue
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        tail = "\n" if index + 1 < len(headers) else ""
        return text[: header.end()] + body + "\n" + tail + text[end:]
    separator = (
        "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    )
    return f"{text}{separator}{title}\n{'-' * len(title)}\n{body}\n"

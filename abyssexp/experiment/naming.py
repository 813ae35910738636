"""Experiment names: ``NNN.DATASET_INFO.INFO1.INFO2``, one regular expression for every part."""

from __future__ import annotations

import re
from dataclasses import dataclass

from abyssexp.errors import InvalidInputError

#: A name part: letters, digits, ``-``, ``_`` and ``+``, not starting with ``-`` (``lr5e-4`` is valid).
PART_PATTERN = r"[A-Za-z0-9_+][A-Za-z0-9_+\-]*"
PART_RE = re.compile(rf"^{PART_PATTERN}$")
#: A whole experiment folder name.
EXPERIMENT_RE = re.compile(
    rf"^(?P<number>\d{{3,}})\.(?P<parts>{PART_PATTERN}(?:\.{PART_PATTERN})*)$"
)
MAX_PART_LENGTH = 64


@dataclass(frozen=True)
class ExperimentName:
    number: int
    parts: tuple[str, ...]

    @property
    def dataset_info(self) -> str:
        return self.parts[0]

    @property
    def folder(self) -> str:
        return format_name(self.number, self.parts)


def format_number(number: int) -> str:
    """Zero-pad to three digits; 1000 and beyond keep counting (``1000``, ``1001``)."""
    return f"{number:03d}"


def format_name(number: int, parts: tuple[str, ...] | list[str]) -> str:
    return ".".join([format_number(number), *parts])


def validate_part(value: str, role: str) -> str:
    """Check one name part, or one project/type name, and say exactly what is wrong."""
    if value == "":
        raise InvalidInputError(f"{role}: empty name part; give letters, digits, '-', '_' or '+'")
    if len(value) > MAX_PART_LENGTH:
        raise InvalidInputError(f"{role}: {value!r} is longer than {MAX_PART_LENGTH} characters")
    if "/" in value or "\\" in value:
        raise InvalidInputError(f"{role}: {value!r} contains a path separator; use '-' instead")
    if value in {".", ".."} or ".." in value:
        raise InvalidInputError(f"{role}: {value!r} is not allowed ('..' would leave the folder)")
    if "." in value:
        raise InvalidInputError(
            f"{role}: {value!r} contains '.', which separates name parts; pass separate parts "
            "instead, or write e.g. 5e-4 without a dot"
        )
    if any(ch.isspace() for ch in value):
        raise InvalidInputError(f"{role}: {value!r} contains a space; use '-' or '_' instead")
    if value.startswith("-"):
        raise InvalidInputError(f"{role}: {value!r} starts with '-'; start with a letter or digit")
    if not PART_RE.match(value):
        bad = sorted({ch for ch in value if not re.match(r"[A-Za-z0-9_+\-]", ch)})
        raise InvalidInputError(
            f"{role}: {value!r} contains {''.join(bad)!r}; only letters, digits, '-', '_' and '+' "
            "are allowed"
        )
    return value


def parse_name(folder: str) -> ExperimentName | None:
    """Parse an experiment folder name, or None when the folder is not an experiment."""
    match = EXPERIMENT_RE.match(folder)
    if not match:
        return None
    return ExperimentName(int(match["number"]), tuple(match["parts"].split(".")))


def number_of(folder: str) -> int | None:
    """The leading number of a folder name (``"012.foo"`` → 12), or None."""
    head = folder.split(".", 1)[0]
    return int(head) if head.isdigit() else None

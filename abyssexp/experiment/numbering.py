"""Claim the next experiment number, safely when many people create experiments at once.

Two processes may read the same "highest number" at the same moment. Each number is therefore
claimed with an atomic ``mkdir`` of ``<type>/.claims/<NNN>``: exactly one process succeeds, the
others see ``FileExistsError`` and try the next number. Folder names can differ in their info parts,
so claiming the experiment folder itself would not stop two ``005.*`` folders.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from abyssexp.experiment.layout import CLAIMS_DIR
from abyssexp.experiment.naming import format_number, number_of
from abyssexp.owned import make_dirs

MAX_ATTEMPTS = 10_000


def highest_number(type_dir: Path) -> int:
    """The highest number among experiment folders and claims of a type folder (0 when empty)."""
    highest = 0
    for folder in (type_dir, type_dir / CLAIMS_DIR):
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    number = number_of(entry.name)
                    if number is not None and number > highest:
                        highest = number
        except FileNotFoundError:
            continue
    return highest


def claim_next_number(type_dir: Path) -> tuple[int, Path]:
    """Claim 1 + the highest number present; return it and its claim folder.

    The claim stays as a record that the number is taken; ``release_claim`` removes it when the
    experiment could not be created, so a failed ``new`` leaves nothing behind.
    """
    claims = make_dirs(type_dir / CLAIMS_DIR)  # never through a link (owned.py)
    number = highest_number(type_dir) + 1
    for _ in range(MAX_ATTEMPTS):
        claim = claims / format_number(number)
        try:
            claim.mkdir()
        except FileExistsError:
            number += 1
            continue
        return number, claim
    raise RuntimeError(f"{type_dir}: could not claim an experiment number")  # pragma: no cover


def release_claim(claim: Path) -> None:
    """Free a claimed number; the ``.claims`` folder goes too once it holds nothing."""
    shutil.rmtree(claim, ignore_errors=True)
    try:
        claim.parent.rmdir()
    except OSError:
        pass  # other claims (numbers taken), or already gone


def keep_claimed(type_dir: Path, number: int) -> None:
    """Make sure ``number`` stays taken in ``type_dir`` (an experiment that leaves the folder,
    for the archive, keeps its number: numbers are never reused)."""
    make_dirs(type_dir / CLAIMS_DIR / format_number(number))

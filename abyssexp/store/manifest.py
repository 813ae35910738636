"""``MANIFEST.sha256``: one ``<sha256>  <relative path>`` line per file (``sha256sum -c`` format)."""

from __future__ import annotations

import os
from pathlib import Path

from abyssexp.hashing import sha256_file

MANIFEST = "MANIFEST.sha256"


def list_files(root: Path) -> list[str]:
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            relative = str((Path(dirpath) / name).relative_to(root))
            if relative != MANIFEST:
                files.append(relative)
    return sorted(files)


def read_manifest(root: Path) -> dict[str, str]:
    entries = {}
    for line in (root / MANIFEST).read_text().splitlines():
        if line.strip():
            digest, _, relative = line.partition("  ")
            entries[relative] = digest
    return entries


def verify_tree(root: Path) -> list[str]:
    """Problems found comparing ``root`` with its manifest (empty: intact)."""
    if not (root / MANIFEST).is_file():
        return [f"no {MANIFEST}; not a promoted model folder"]
    expected = read_manifest(root)
    present = set(list_files(root))
    problems = []
    for relative, digest in sorted(expected.items()):
        if relative not in present:
            problems.append(f"missing: {relative}")
        elif sha256_file(root / relative) != digest:
            problems.append(f"changed: {relative} (sha256 differs from the manifest)")
    for relative in sorted(present - set(expected)):
        problems.append(f"unexpected: {relative} (not in the manifest)")
    return problems

import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.cli.docs import render_cli_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_cli_doc_is_generated_from_the_app() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == render_cli_markdown(), (
        "docs/cli.md is out of date: run `python -m abyssexp.cli.docs > docs/cli.md`"
    )


@pytest.mark.slow
def test_every_command_in_the_docs_exists() -> None:
    """Each `abyssexp <command>` shown in a code block of the docs or README answers --help."""
    import re

    commands = set()
    for path in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        if path.name == "cli.md":
            continue
        for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(), flags=re.S):
            for line in block.splitlines():
                match = re.match(
                    r"^\s*(?:\$ )?abyssexp (?:--debug )?((?:data|augment) [a-z][a-z-]*|[a-z]+)\b",
                    line,
                )
                if match:
                    commands.add(match.group(1))
    assert {"new", "list", "train", "test", "promote", "data check", "config"} <= commands, commands
    for command in sorted(commands):
        result = subprocess.run(
            [sys.executable, "-m", "abyssexp", *command.split(), "--help"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"`abyssexp {command}` in the docs: {result.stderr[-300:]}"

"""Typer's own parse errors (an unknown option, a value out of its range, a missing option) are
one line naming the command and where its options are listed, exit 2, like every other error."""

from __future__ import annotations

import pytest

from abyssexp.cli import app


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["test", "p/t/1", "--bogus"], "No such option: --bogus"),
        (["test", "p/t/1", "--coco", "x.json"], "Missing option '--condition'"),
        (["predict", "m.keras", "img.jpg", "--top-k", "0"], "'--top-k'"),
        (["sweep", "new", "p"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line(runner, scratch, argv, said) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], result.output
    command = "abyssexp " + " ".join(argv[:2] if argv[0] == "sweep" else argv[:1])
    assert f"`{command} --help`" in lines[0] and "Usage:" not in result.output


def test_a_group_without_a_command_still_shows_its_help(runner) -> None:
    result = runner.invoke(app, ["data"])
    assert "Usage:" in result.output and "check" in result.output

"""``new --note`` and ``note`` share one rule (issue 31 case 16: ``new --note`` accepted the
control characters ``note`` refuses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abyssexp.cli import app


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("evil\x1b]0;pwned\x07", "holds control characters"),
        ("purpose\n---\nfake section", "has a line of dashes"),
    ],
)
def test_new_note_is_checked_like_note(runner, scratch: Path, shapes, text, message) -> None:
    new = ["new", "p", "t", "d", "--train", str(shapes["train"])]
    refused = runner.invoke(app, [*new, "--note", text])
    assert refused.exit_code == 2, refused.output
    assert f"new: the --note {message}" in refused.output
    assert not (scratch / "p" / "t").exists() or not list((scratch / "p" / "t").glob("0*"))
    assert runner.invoke(app, new).exit_code == 0
    noted = runner.invoke(app, ["note", "p/t/1", text])
    assert noted.exit_code == 2 and message in noted.output

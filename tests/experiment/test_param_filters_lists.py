"""``--filter`` on a list-valued param compares lists as values (issue 31 case 16:
``model.input_shape=[32,32,3]`` matched nothing and ``!=`` everything)."""

from __future__ import annotations

import json
from pathlib import Path

from abyssexp.cli import app


def test_filter_compares_lists_as_values(runner, scratch: Path, shapes) -> None:
    for name, shape in (("small", "[32,32,3]"), ("large", "[64,64,3]")):
        made = runner.invoke(
            app,
            ["new", "p", "t", name, "--train", str(shapes["train"])]
            + ["--set", f"model.input_shape={shape}"],
        )
        assert made.exit_code == 0, made.output

    def names(*filters: str) -> list[str]:
        args = ["list", "p", "--json", *(x for f in filters for x in ("--filter", f))]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return sorted(row["name"] for row in json.loads(result.stdout))

    assert names("model.input_shape=[32,32,3]") == ["001.small"]
    assert names("model.input_shape=[32, 32, 3]") == ["001.small"]
    assert names("model.input_shape!=[32,32,3]") == ["002.large"]
    assert names("model.input_shape=32") == []  # a number is not the list that holds it

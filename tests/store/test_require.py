"""``--require`` names a testing condition like any name part: it cannot leave ``testing/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.errors import InvalidInputError
from abyssexp.store.promotion import parse_requirement
from tests.store.conftest import one_line_error


@pytest.mark.parametrize(
    "text",
    [
        "a/../../x:accuracy>=0.99",
        "../x:accuracy>=0.99",
        "..:accuracy>=0.5",
        "/etc:accuracy>=0.5",
        "co nd:accuracy>=0.5",
        "cond:accuracy..x>=0.5",
        "cond:.accuracy>=0.5",
    ],
)
def test_bad_condition_or_metric_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_requirement(text)


def test_good_requirements_parse() -> None:
    requirement = parse_requirement("shapes-test_2:per_class.cat-1.f1 >= 0.5")
    assert (requirement.condition, requirement.metric, requirement.value) == (
        "shapes-test_2",
        "per_class.cat-1.f1",
        0.5,
    )


def test_require_cannot_read_metrics_outside_testing(runner, tested, tmp_path: Path) -> None:
    root = tested(accuracy=0.5)
    (root / "testing" / "a").mkdir()
    (root / "x").mkdir()
    (root / "x" / "metrics.json").write_text(json.dumps({"accuracy": 1.0}))
    result = runner.invoke(app, ["promote", str(root), "--require", "a/../../x:accuracy>=0.99"])
    assert result.exit_code == 2
    assert "a/../../x" in one_line_error(result.output)
    assert not (tmp_path / "store" / "proj").exists()

"""compare and report on two tiny experiments trained and tested for real."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from abyssexp.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports(trained_pair, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("reports")
    runner = CliRunner()
    scratch = ["--scratch", str(trained_pair.scratch)]
    single = runner.invoke(app, ["report", str(trained_pair.first), *scratch])
    assert single.exit_code == 0, single.output
    pair = out / "pair.html"
    result = runner.invoke(
        app,
        ["report", str(trained_pair.first), "--compare", str(trained_pair.second)]
        + ["--out", str(pair), *scratch],
    )
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip().splitlines()[-1]) == pair
    return {"single": Path(single.stdout.strip().splitlines()[-1]), "pair": pair}


def test_compare_trained_orders_by_metric_and_shows_results(runner, trained_pair) -> None:
    args = [
        str(trained_pair.first),
        str(trained_pair.second),
        "--scratch",
        str(trained_pair.scratch),
    ]
    result = runner.invoke(app, ["compare", *args, "--metric", "val_loss", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    losses = [e["validation"]["val_loss"]["value"] for e in data["experiments"]]
    assert losses == sorted(losses)
    assert list(data["params"]) == ["training.lr"]
    assert set(_lrs(data)) == {0.002, 0.001}
    for experiment in data["experiments"]:
        assert experiment["epochs_done"] == 2 and experiment["seconds"] is not None
        assert "accuracy" in experiment["tests"]["shapes-test"]
        assert len(experiment["provenance"]["datasets"]["train"]) == 64
    assert data["dataset_mismatch"] == []
    table = runner.invoke(app, ["compare", *args, "--metric", "shapes-test:accuracy"])
    assert table.exit_code == 0, table.output
    assert "shapes-test:accuracy" in table.stdout and "val_loss" in table.stdout


def _lrs(data: dict) -> list[float]:
    return data["params"]["training.lr"]


def test_report_is_one_self_contained_file(reports, trained_pair) -> None:
    html = reports["single"].read_text()
    assert reports["single"] == trained_pair.first / "report.html"
    assert len(html.encode()) < 3_000_000
    # Nothing to fetch: every src/href is a data: URI or an in-page anchor.
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links and all(link.startswith(("data:", "#")) for link in links), links
    assert "http://" not in html and "https://" not in html
    for text in (
        trained_pair.first.name,
        "Baseline",
        "baseline",  # the tag
        "completed",
        "Provenance",
        "shapes-test",
        "precision-recall per class",
        "confusion matrix",
        "Worst mistakes",
        "training.lr",
    ):
        assert text in html, text
    assert html.count("data:image/svg+xml;base64,") >= 4  # loss, metrics, lr, PR, confusion
    assert html.count("data:image/jpeg;base64,") >= 1  # thumbnails of mistakes


def test_report_with_compare_is_side_by_side(reports, trained_pair) -> None:
    html = reports["pair"].read_text()
    assert "Comparing 2 experiments" in html and "What differs" in html
    assert trained_pair.first.name in html and trained_pair.second.name in html
    assert "params · training.lr" in html
    assert "repeat(2, minmax(0, 1fr))" in html
    # The paired verdict travels to the page (issue 29), with its interval and n.
    assert "Paired tests (the same test images, 95 %)" in html
    paired = html[html.index("Paired tests") :]
    row = paired[: paired.index("</tr>", paired.index("<tbody>"))]
    assert "[2] − [1]" in row and "shapes-test:accuracy" in row and "n=" in row
    verdicts = ("B better", "A better", "no significant difference", "too few to tell")
    assert any(v in row for v in verdicts), row


@pytest.mark.browser
def test_report_renders_in_headless_chromium_with_the_network_off(reports) -> None:
    from tests.report.browser import CHROMIUM, load_offline

    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM}: `make test-browser` installs it")
    pytest.importorskip("websocket", reason="websocket-client is in the dev extra")
    page = load_offline(reports["pair"])
    assert page.requests == [], page.requests
    assert page.failed == [], page.failed
    assert page.console_errors == [], page.console_errors
    assert len(page.images) >= 8
    assert all(i["complete"] and i["width"] > 0 for i in page.images), page.images
    assert page.screenshot.startswith(b"\x89PNG")
    target = os.environ.get("ABYSSEXP_SCREENSHOT")
    if target:  # to look at it: ABYSSEXP_SCREENSHOT=/tmp/report.png make test-browser
        Path(target).write_bytes(page.screenshot)


def _figure_text(html: str, caption: str) -> str:
    """The SVG text of the figure captioned ``caption`` (matplotlib keeps text as text)."""
    import base64

    match = re.search(
        r'<img src="data:image/svg\+xml;base64,([^"]+)"[^>]*><figcaption>'
        + re.escape(caption)
        + "</figcaption>",
        html,
    )
    assert match, f"no figure captioned {caption!r}"
    return base64.b64decode(match.group(1)).decode()


def test_report_curves_one_panel_per_metric_with_a_legend(reports) -> None:
    html = reports["pair"].read_text()
    for caption in ("loss", "accuracy", "macro F1", "distinct predictions", "learning rate"):
        svg = _figure_text(html, caption)
        assert "[1]" in svg and "[2]" in svg, caption  # the experiments as colours, named
    accuracy = _figure_text(html, "accuracy")
    assert "training" in accuracy and "validation" in accuracy  # solid and dashed, said
    assert "stroke-dasharray" in accuracy  # the validation line is dashed
    # the counter of distinct predictions has its own panel, never a metric's axis
    assert "distinct" not in accuracy and "distinct" not in _figure_text(html, "macro F1")


def test_report_what_differs_folds_equal_rows(reports) -> None:
    html = reports["pair"].read_text()
    differs = html.split("<h2>What differs</h2>", 1)[1].split("</table>", 1)[0]
    assert "params · training.lr" in differs
    assert "run · status" not in differs  # both completed: equal, folded below
    folded = re.search(r"<summary>(\d+) equal rows?</summary>", html)
    assert folded and int(folded.group(1)) >= 1
    assert "run · status" in html.split(folded.group(0), 1)[1]

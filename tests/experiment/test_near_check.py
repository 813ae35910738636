"""Near-duplicates across the splits are checked by default where splits are used (issue 30
item 2): ``new`` warns with the count, two examples and the fix, ``data check --val`` says the
same, identical images stay refused, and the two commands agree on every leak verdict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from abyssexp.cli import app
from tests.datasets.fixtures_exports import write_roboflow_export

LEAK_MARKERS = ("near-duplicate pair(s)", "are also training images")


def _splits(tmp_path: Path, case: str) -> dict[str, Path]:
    """A Roboflow export whose valid split holds: nothing of train (clean), two renamed copies
    of training images (identical), or two training images saved again at JPEG quality 70
    (near), or both."""
    files = write_roboflow_export(tmp_path / case, {"train": 24, "valid": 12})
    train = json.loads(files["train"].read_text())["images"]
    val = json.loads(files["valid"].read_text())["images"]
    source = files["train"].parent
    target = files["valid"].parent
    if case in ("identical", "both"):
        for index in (0, 1):
            shutil.copyfile(source / train[index]["file_name"], target / val[index]["file_name"])
    if case in ("near", "both"):
        for index in (2, 3):
            with Image.open(source / train[index]["file_name"]) as image:
                image.save(target / val[index]["file_name"], quality=70)
    return files


def _leak_lines(lines: list[str]) -> list[str]:
    return sorted(line for line in lines if any(m in line for m in LEAK_MARKERS))


def _verdicts(runner, files: dict[str, Path], *flags: str) -> tuple[dict, dict]:
    """What ``data check --val`` and ``new`` say about the same two files."""
    train, val = str(files["train"]), str(files["valid"])
    checked = runner.invoke(app, ["data", "check", train, "--val", val, "--json", *flags])
    report = json.loads(checked.stdout)
    check = {
        "refused": _leak_lines(report["problems"]),
        "warned": _leak_lines(report["warnings"]),
    }
    made = runner.invoke(app, ["new", "p", "t", "d", "--train", train, "--val", val, *flags])
    if made.exit_code == 2:
        new = {
            "refused": _leak_lines(made.output.replace("\n", " ").split("error: ")),
            "warned": [],
        }
    else:
        assert made.exit_code == 0, made.output
        record = json.loads(
            (Path(made.stdout.strip().splitlines()[-1]) / "record.json").read_text()
        )
        new = {"refused": [], "warned": _leak_lines(record.get("data_warnings") or [])}
    return check, new


@pytest.mark.parametrize("case", ["clean", "identical", "near", "both"])
def test_data_check_and_new_agree_on_every_leak_verdict(runner, scratch, tmp_path, case) -> None:
    files = _splits(tmp_path, case)
    check, new = _verdicts(runner, files)
    assert bool(check["refused"]) == bool(new["refused"]) == (case in ("identical", "both"))
    if not new["refused"]:  # a refused `new` stops before it could warn
        assert check["warned"] == new["warned"]
        assert bool(new["warned"]) == (case == "near")
    if check["refused"]:
        assert "2 validation image(s) are also training images" in check["refused"][0]
        assert check["refused"][0].split(";")[0] in " ".join(new["refused"])


def test_new_warns_of_near_duplicates_with_the_fix(runner, scratch, tmp_path) -> None:
    files = _splits(tmp_path, "near")
    made = runner.invoke(
        app, ["new", "p", "t", "d", "--train", str(files["train"]), "--val", str(files["valid"])]
    )
    assert made.exit_code == 0, made.output
    text = " ".join(made.stderr.split())
    assert "2 near-duplicate pair(s) of validation and training images" in text
    assert "IMG_0002" in text and "IMG_0003" in text  # the two example pairs
    assert "abyssexp data split --group-by near" in text and "--near" in text
    assert "--no-near-check" in text
    skipped = runner.invoke(
        app,
        ["new", "p", "t", "d", "--train", str(files["train"]), "--val", str(files["valid"])]
        + ["--no-near-check"],
    )
    assert skipped.exit_code == 0 and "near-duplicate" not in skipped.stderr
    checked = runner.invoke(
        app, ["data", "check", str(files["train"]), "--val", str(files["valid"])]
    )
    assert checked.exit_code == 0, checked.output
    assert "2 near-duplicate pair(s)" in " ".join(checked.output.split())


def test_the_example_pairs_name_each_file_whole(runner, scratch, tmp_path) -> None:
    # A real Roboflow export's names run to 70 characters; the second of each pair was cut at
    # 120 characters of the pair ("fertile_1720665371876_jpg.rf.022320ef43ae76406bc5...").
    files = _splits(tmp_path, "near")
    train = json.loads(files["train"].read_text())["images"]
    data = json.loads(files["valid"].read_text())
    for index in (2, 3):  # names as long as the real export's
        image = data["images"][index]
        long_name = (
            f"in_fertile_17206653718{index}6_jpg.rf.022320ef43ae76406bc5d0c1a2b3c4d5e6f7.jpg"
        )
        (files["valid"].parent / image["file_name"]).rename(files["valid"].parent / long_name)
        image["file_name"] = long_name
    files["valid"].write_text(json.dumps(data))
    names = [image["file_name"] for image in (train[2], train[3], *data["images"][2:4])]
    checked = runner.invoke(
        app, ["data", "check", str(files["train"]), "--val", str(files["valid"]), "--json"]
    )
    warning = next(w for w in json.loads(checked.stdout)["warnings"] if "near-dup" in w)
    assert all(name in warning for name in names), (names, warning)


def test_data_check_test_split_counts_identical_and_near(runner, scratch, tmp_path) -> None:
    files = write_roboflow_export(tmp_path / "rf", {"train": 24, "valid": 12, "test": 6})
    test = files["test"]
    train = json.loads(files["train"].read_text())["images"]
    names = [i["file_name"] for i in json.loads(test.read_text())["images"]]
    shutil.copyfile(files["train"].parent / train[0]["file_name"], test.parent / names[0])
    with Image.open(files["train"].parent / train[1]["file_name"]) as image:
        image.save(test.parent / names[1], quality=60)
    args = ["data", "check", str(files["train"]), "--val", str(files["valid"]), "--test"]
    result = runner.invoke(app, [*args, str(test), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["stats"]["leaks"] == {"identical": 1, "near": 1, "undecoded": 0}
    assert any("1 test image(s) are also training images" in p for p in report["problems"])
    skipped = json.loads(runner.invoke(app, [*args, str(test), "--json", "--no-near-check"]).stdout)
    assert skipped["stats"]["leaks"]["near"] is None

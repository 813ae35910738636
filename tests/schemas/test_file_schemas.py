"""Every file abyssexp writes reads back through its schema: old formats still read (a fixture
per file, in the shape the first abyssexp that wrote it gave it), and a field of the wrong type
is one line naming the file and the field, or "absent" for readers that list."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from abyssexp.schemas.files import FileUnreadableError
from abyssexp.schemas.provenance import latest_section, load_provenance, parse_provenance
from abyssexp.schemas.results import (
    load_predictions,
    load_test_metrics,
    read_test_metrics,
    write_test_result,
)
from abyssexp.schemas.store_entry import parse_entry

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "old_files"


def test_old_metrics_read_with_their_unknown_keys_kept() -> None:
    metrics = read_test_metrics(OLD / "metrics_v0.json")
    assert metrics["accuracy"] == 0.75 and "intervals" not in metrics
    assert metrics["per_class"]["square"]["average_precision"] is None
    assert metrics["top_1_accuracy"] == 0.75  # not in the schema: kept as it was


def test_metrics_of_the_first_intervals_and_caveats_read() -> None:
    """metrics.json as the first tests with intervals and caveats wrote it (percentile
    bootstraps: no ``method`` or ``reason``), read and shown as then."""
    from abyssexp.experiment.result_digest import caveat_codes, summarise_test, summary_metric

    metrics = read_test_metrics(OLD / "metrics_v1.json")
    assert metrics["intervals"]["accuracy"] == {
        "value": 0.5, "low": 0.07, "high": 0.93, "n": 4, "level": 0.95
    }  # fmt: skip
    assert caveat_codes(metrics) == ["constant_predictions", "small_test_set"]
    assert summary_metric(metrics) == "0.50 [0.07–0.93] n=4"
    assert summarise_test(metrics)["intervals"]["macro_f1"] == {"low": 0.2, "high": 0.8, "n": 4}


def test_record_test_summaries_of_every_version_read(tmp_path: Path) -> None:
    """A record's ``tests`` as the first abyssexp wrote them (point values, checkpoint, images)
    and as the first with intervals did (``n`` null where it had none), read through the
    record's schema; a summary with a value of the wrong type makes the record unreadable, in
    one line that names the field."""
    from abyssexp.experiment.record_file import RecordUnreadableError, read_record
    from abyssexp.experiment.result_digest import caveat_codes, summary_metric

    tests = read_record(OLD / "record_tests_v0.json").tests
    assert summary_metric(tests["first-tests"]) == "0.750"
    assert summary_metric(tests["first-tests"], "mAP") == "1.000"
    assert summary_metric(tests["with-intervals"]) == "0.50 [0.07–0.93] n=4"
    assert caveat_codes(tests["with-intervals"]) == ["small_test_set"]
    data = json.loads((OLD / "record_tests_v0.json").read_text())
    data["tests"]["first-tests"]["accuracy"] = "high"
    (tmp_path / "record.json").write_text(json.dumps(data))
    with pytest.raises(RecordUnreadableError) as caught:
        read_record(tmp_path / "record.json")
    message = str(caught.value)
    assert "accuracy" in message and "\n" not in message, message


def test_a_metric_of_the_wrong_type_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text('{"activation": "softmax", "accuracy": "high"}')
    with pytest.raises(FileUnreadableError) as caught:
        read_test_metrics(path)
    message = str(caught.value)
    assert str(path) in message and "field accuracy" in message and "\n" not in message
    assert load_test_metrics(path) is None
    assert load_test_metrics(tmp_path / "absent.json") is None


def test_a_metrics_file_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").mkdir()
    with pytest.raises(FileUnreadableError, match="is a folder"):
        read_test_metrics(tmp_path / "metrics.json")


def test_predictions_without_image_hashes_read() -> None:
    rows = load_predictions(OLD / "predictions_v0.json")
    assert rows is not None and [r["image_id"] for r in rows] == [1, 2]
    assert "sha256" not in rows[0]


def test_predictions_that_are_not_a_list_are_absent(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    path.write_text('{"image_id": 1}')
    assert load_predictions(path) is None


def test_a_result_written_reads_back(tmp_path: Path) -> None:
    metrics = read_test_metrics(OLD / "metrics_v0.json")
    rows = load_predictions(OLD / "predictions_v0.json") or []
    write_test_result(tmp_path, dict(metrics), list(rows))
    assert read_test_metrics(tmp_path / "metrics.json") == metrics
    assert load_predictions(tmp_path / "predictions.json") == rows


def test_provenance_of_new_only_reads(tmp_path: Path) -> None:
    provenance = load_provenance(OLD / "provenance_new_only.json")
    assert latest_section(provenance)["host"] == "gpu01"
    raw = (OLD / "provenance_new_only.json").read_bytes()
    assert parse_provenance(raw) == provenance
    copy = tmp_path / "provenance.json"
    shutil.copy(OLD / "provenance_new_only.json", copy)
    assert latest_section(load_provenance(copy)) == latest_section(provenance)


def test_a_provenance_section_that_is_not_an_object_is_refused() -> None:
    assert parse_provenance(b'{"train": "yesterday"}') is None
    assert parse_provenance(b"[" * 100_000) is None
    assert latest_section(None) == {}


def test_an_old_store_entry_reads_with_its_fields() -> None:
    entry = parse_entry((OLD / "entry_v1.json").read_bytes())
    assert (entry["project"], entry["type"], entry["name"]) == ("demo", "shapes", "001-first")
    assert "caveats" not in entry and entry["bytes"] == 123456


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"project": "demo", "type": "shapes"}', "project, type and name"),
        (b"[1, 2]", "project, type and name"),
        (b'{"project": "demo", "type": "shapes", "name": "x", "bytes": "many"}', "field bytes"),
        (b'{"project": ', "not valid JSON"),
    ],
)
def test_a_broken_store_entry_says_what_is_wrong(raw: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_entry(raw)


def test_owner_files_of_every_version_read(tmp_path: Path) -> None:
    from abyssexp.schemas.process_owner import load_owner, parse_owner

    # A promotion temporary's owner file before the start time was kept.
    path = tmp_path / ".tmp-001-x-abc.owner.json"
    path.write_text('{"host": "gpu01", "pid": 4242, "started": "2026-10-01T12:00:00Z"}')
    owner = load_owner(path)
    assert owner is not None and owner["pid"] == 4242 and "process_start" not in owner
    # An object store claim: its start time is text.
    claim = b'{"host": "gpu01", "pid": 7, "process_start": "123456", "id": "ab12"}'
    assert (parse_owner(claim) or {}).get("process_start") == "123456"
    assert parse_owner(b'{"host": "gpu01"}') is None  # no pid: not an owner abyssexp wrote
    assert parse_owner(b"not json") is None


def test_model_files_read_and_a_wrong_one_is_one_line(tmp_path: Path) -> None:
    from abyssexp.errors import InvalidInputError
    from abyssexp.schemas.model_files import (
        read_category_map,
        read_class_names,
        read_thresholds_file,
    )

    (tmp_path / "class_names.json").write_text('["boxy", "pointy", "round"]')
    (tmp_path / "category_map.json").write_text('{"1": 0, "2": 1, "7": 1}')
    # thresholds.json as the first sigmoid models wrote it: no policy, no class names.
    (tmp_path / "thresholds.json").write_text('{"checkpoint": "best.keras", "thresholds": [0.5]}')
    assert read_class_names(tmp_path / "class_names.json") == ["boxy", "pointy", "round"]
    assert read_category_map(tmp_path / "category_map.json") == {"1": 0, "2": 1, "7": 1}
    assert (read_thresholds_file(tmp_path / "thresholds.json") or {}).get("thresholds") == [0.5]
    assert read_class_names(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text('{"checkpoint": "best.keras", "thresholds": "high"}')
    with pytest.raises(InvalidInputError, match="field thresholds") as caught:
        read_thresholds_file(tmp_path / "bad.json")
    assert "\n" not in str(caught.value)


def test_alias_history_lines_read_and_a_torn_last_line_is_skipped() -> None:
    from abyssexp.schemas.alias_history import parse_moves

    text = (
        '{"alias": "production", "from": null, "location": "demo/shapes", "to": "001-first", '
        '"via": "promote"}\n{"alias": "produ'
    )
    moves = parse_moves(text, "alias-history.jsonl", "fix it", torn_last=True)
    assert [m["to"] for m in moves] == ["001-first"] and moves[0]["from"] is None
    with pytest.raises(ValueError, match=r"alias-history.jsonl:2: does not parse; fix it"):
        parse_moves(text, "alias-history.jsonl", "fix it")


def _registry_error(problem: str) -> ValueError:
    return ValueError(problem)


def test_an_old_registry_reads_with_its_rows_whole() -> None:
    from abyssexp.store.registry import REGISTRY_VERSION, parse_registry

    data = parse_registry((OLD / "registry_v1.json").read_bytes(), _registry_error)
    assert data["version"] == REGISTRY_VERSION  # written before the registry had a version
    first, second = data["models"]
    assert "project" not in first and first["checkpoint"] == "best.keras"
    assert second["written_by"] == "an earlier abyssexp"  # unknown keys kept
    assert second["tests"]["test"]["accuracy"] == 1
    assert data["aliases"] == {"demo/shapes": {"production": "002-second"}}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["models"][1].update(bytes="12"), r"models\[1\] \('002-second'\): field bytes"),
        (lambda d: d["models"][1].update(bytes=True), "field bytes"),
        (lambda d: d["models"][1]["tests"]["test"].update(accuracy=True), "tests.test.accuracy"),
        (lambda d: d["models"][0].pop("path"), r"models\[0\] \('001-first'\): field path"),
        (lambda d: d["models"].append([]), r"field models\[2\]: "),
        (lambda d: d["aliases"]["demo/shapes"].update(candidate=3), "field aliases"),
        (lambda d: d.update(models={}), "field models"),
    ],
)
def test_a_registry_off_its_schema_says_which_row_and_field(change, problem) -> None:
    from abyssexp.store.registry import parse_registry

    data = json.loads((OLD / "registry_v1.json").read_text())
    change(data)
    with pytest.raises(ValueError, match=problem):
        parse_registry(json.dumps(data).encode(), _registry_error)

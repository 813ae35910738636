"""``serve`` before any model loads: its options checked in one line, exit 2; the commands
that must stay light import neither TensorFlow nor the server stack; request bodies split."""

from __future__ import annotations

from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.serving.bodies import BodyError, split_parts
from tests.cli.imports import modules_loaded_by
from tests.store.conftest import one_line_error

HEAVY = ("tensorflow", "keras", "starlette", "uvicorn", "prometheus_client", "httpx")


@pytest.mark.parametrize(
    "args", [["--help"], ["serve", "--help"], ["new", "p", "t", "d"], ["list"]], ids=" ".join
)
def test_light_commands_import_no_tensorflow_and_no_server(tmp_path: Path, args) -> None:
    assert modules_loaded_by(args, HEAVY, tmp_path) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--format", "tflite"], "--format: 'tflite' is not a format to serve"),
        (["--queue", "4"], "--queue: 4 is outside 32 to 100000; at least --max-batch"),
        (["--window-ms", "-1"], "--window-ms: -1 is outside 0 to 1000"),
        (["--timeout", "nan"], "expected a finite number"),
        (["--port", "70000"], "--port: 70000 is outside 0 to 65535"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(runner, scratch: Path, args, words) -> None:
    result = runner.invoke(app, ["serve", "model.keras", *args])
    assert result.exit_code == 2 and words in one_line_error(result.output)


def test_an_unknown_alias_fails_before_serving(runner, scratch: Path) -> None:
    result = runner.invoke(app, ["serve", "proj/cls@production", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert "no alias 'production' for proj/cls" in one_line_error(result.output)


def test_multipart_parts_are_split_in_memory_and_counted() -> None:
    boundary = "b0und"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\nAAA\r\n--{boundary}\r\n"
        f'Content-Disposition: form-data; name="other"\r\n\r\nBB\r\n--{boundary}--\r\n'
    ).encode()
    kind = f"multipart/form-data; boundary={boundary}"
    parts = split_parts(body, kind, max_parts=2)
    assert [(p.name, p.data) for p in parts] == [("a.jpg", b"AAA"), ("other", b"BB")]
    with pytest.raises(BodyError, match="more than 1 images") as too_many:
        split_parts(body, kind, max_parts=1)
    assert too_many.value.status == 413
    assert [p.name for p in split_parts(b"raw", "image/png", 1)] == ["body"]
    with pytest.raises(BodyError, match="without a boundary"):
        split_parts(body, "multipart/form-data", 2)

"""Object-storage stores (``s3://``), against a real S3-compatible server (moto's, started on
127.0.0.1 by the ``s3_endpoint`` fixture): promotion as a transaction, ``promoted``, ``verify``,
interrupted uploads, tampering, never overwriting, concurrent registry changes, the download
cache of ``predict``/``export``."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.config import StoreURL, parse_store, resolve_roots
from abyssexp.errors import InvalidInputError, StoreError
from abyssexp.experiment.record_file import read_record
from abyssexp.store.promotion import FAULT_ENV
from abyssexp.store.remote_promote import REMOTE_FAULT_STEPS
from tests.store.conftest import make_tested, one_line_error


def _keys(client, store: StoreURL, under: str = "") -> dict[str, bytes]:
    """Every object under the store (or ``under`` in it): key relative to the store → bytes."""
    prefix = f"{store.prefix}/{under}".rstrip("/") + "/"
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=prefix
    ):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=store.bucket, Key=item["Key"])["Body"].read()
            found[item["Key"][len(store.prefix) + 1 :]] = body
    return found


def _promoted(runner) -> list[dict]:
    result = runner.invoke(app, ["promoted", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- the store URL ---------------------------------------------------------------------------


def test_store_urls_are_parsed_and_checked(tmp_path: Path, monkeypatch) -> None:
    assert parse_store("s3://team-models/abyss/") == StoreURL("s3", "team-models", "abyss")
    assert str(parse_store("S3://b")) == "s3://b"
    assert parse_store("s3://b/p").child("proj/cls/x").url == "s3://b/p/proj/cls/x"
    assert parse_store("file:///tmp/store") == Path("/tmp/store")
    for bad in ("s3://", "s3://b//p", "s3://b/../etc", "s3://b/./p"):
        with pytest.raises(InvalidInputError, match="BUCKET/PREFIX"):
            parse_store(bad)
    with pytest.raises(InvalidInputError, match=r"cannot store to ftp://.*Received: ftp"):
        parse_store("ftp://host/models")
    config = tmp_path / "config.toml"
    config.write_text('[roots]\nstore = "s3://from-config/models"\n')
    monkeypatch.setenv("ABYSSEXP_CONFIG", str(config))
    monkeypatch.delenv("ABYSSEXP_STORE", raising=False)
    assert resolve_roots().store.path == StoreURL("s3", "from-config", "models")
    monkeypatch.setenv("ABYSSEXP_STORE", "s3://from-env/m")
    assert resolve_roots().store.path == StoreURL("s3", "from-env", "m")
    assert resolve_roots(store="s3://opt/m").store.source == "option"


def test_a_missing_s3_extra_is_one_line(runner, scratch, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed: import fails
    result = runner.invoke(app, ["promoted", "--store", "s3://bucket/models"])
    assert result.exit_code == 1
    assert "pip install 'abyssexp[s3]'" in one_line_error(result.output)


# --- promotion, promoted, verify -------------------------------------------------------------


@pytest.mark.s3
def test_promote_to_s3_then_promoted_verify_and_history(
    runner, tested, s3_store: StoreURL, s3_client
) -> None:
    root = tested(size=2 << 20)
    started = time.perf_counter()
    result = runner.invoke(app, ["promote", str(root), "--alias", "production"])
    took = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    destination = s3_store.child(f"proj/cls/{root.name}")
    assert str(destination) in result.output
    print(f"promotion of 2 MiB to the local S3 server: {took:.2f} s")

    objects = _keys(s3_client, s3_store)
    model = f"proj/cls/{root.name}"
    assert objects[f"{model}/model.keras"] == (root / "models" / "best.keras").read_bytes()
    manifest = objects[f"{model}/MANIFEST.sha256"].decode()
    assert f"{hashlib.sha256(objects[f'{model}/entry.json']).hexdigest()}  entry.json" in manifest
    assert {f"{model}/testing/cond/metrics.json", f"{model}/params.json"} <= set(objects)
    assert not [k for k in objects if ".claim-" in k]  # released
    assert json.loads(objects["registry.json"])["aliases"] == {
        "proj/cls": {"production": root.name}
    }

    (row,) = _promoted(runner)
    assert row["path"] == str(destination) and row["aliases"] == ["production"]
    verified = runner.invoke(app, ["verify", str(destination)])
    assert verified.exit_code == 0 and "intact" in verified.output, verified.output
    assert [p.path for p in read_record(root / "record.json").promotions] == [str(destination)]
    history = runner.invoke(app, ["promoted", "--history", "production", "--json"])
    assert [(m["from"], m["to"]) for m in json.loads(history.stdout)] == [(None, root.name)]
    table = runner.invoke(app, ["promoted"])
    assert f"proj/cls/{root.name}" in table.output and "production" in table.output


@pytest.mark.s3
def test_a_promotion_is_never_overwritten(
    runner, tested, s3_store, s3_client, tmp_path: Path, monkeypatch
) -> None:
    root = tested()
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    before = _keys(s3_client, s3_store, f"proj/cls/{root.name}")
    again = runner.invoke(app, ["promote", str(root)])
    assert again.exit_code == 1 and "never overwritten" in one_line_error(again.output)
    (root / "models" / "best.keras").write_bytes(b"retrained")
    retrained = runner.invoke(app, ["promote", str(root)])
    assert retrained.exit_code == 1 and "already promoted" in retrained.output
    # The same name from another scratch root (another machine's experiment):
    monkeypatch.setenv("ABYSSEXP_SCRATCH", str(tmp_path / "elsewhere"))
    other = make_tested(runner)
    assert other.name == root.name, (other, root)
    clash = runner.invoke(app, ["promote", str(other)])
    assert clash.exit_code == 1 and "already promoted" in one_line_error(clash.output)
    assert _keys(s3_client, s3_store, f"proj/cls/{root.name}") == before
    # And below the CLI: the entry is written only if absent.
    from abyssexp.store.objectstore import connect

    objects = connect(s3_store)
    assert not objects.create(f"proj/cls/{root.name}/entry.json", b"{}")
    assert _keys(s3_client, s3_store, f"proj/cls/{root.name}") == before


@pytest.mark.s3
def test_verify_reports_tampered_missing_and_added_objects(
    runner, tested, s3_store, s3_client
) -> None:
    root = tested()
    assert runner.invoke(app, ["promote", str(root)]).exit_code == 0
    destination = s3_store.child(f"proj/cls/{root.name}")
    key = f"{destination.prefix}/model.keras"
    s3_client.put_object(Bucket=s3_store.bucket, Key=key, Body=b"tampered")
    s3_client.delete_object(Bucket=s3_store.bucket, Key=f"{destination.prefix}/params.json")
    s3_client.put_object(Bucket=s3_store.bucket, Key=f"{destination.prefix}/extra.bin", Body=b"x")
    result = runner.invoke(app, ["verify", str(destination), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [
        "changed: model.keras (sha256 differs from the manifest)",
        "missing: params.json",
        "unexpected: extra.bin (not in the manifest)",
    ]
    from abyssexp.store.cache import cached_model

    with pytest.raises(StoreError, match="model.keras: sha256 differs from its manifest"):
        cached_model(destination)  # predict/export refuse it too


# --- interrupted promotions ------------------------------------------------------------------


def _kill_promotion_at(step: str, root: Path, *args: str) -> None:
    killed = subprocess.run(
        [sys.executable, "-m", "abyssexp", "promote", str(root), *args],
        env={**os.environ, FAULT_ENV: step},
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()


@pytest.mark.s3
@pytest.mark.parametrize("finish_with", ["retry", "repair"])
@pytest.mark.parametrize("step", REMOTE_FAULT_STEPS[:2])
def test_an_interrupted_upload_is_invisible_and_cleaned_up(
    runner, tested, s3_store, s3_client, step: str, finish_with: str
) -> None:
    root = tested(size=3 << 20)
    _kill_promotion_at(step, root, "--alias", "production")
    model = f"proj/cls/{root.name}"
    left = _keys(s3_client, s3_store)
    assert f"proj/cls/.claim-{root.name}.json" in left  # the dead promotion's claim
    assert f"{model}/model.keras" in left and f"{model}/entry.json" not in left
    assert _promoted(runner) == []
    verified = runner.invoke(app, ["verify", str(s3_store.child(model))])
    assert verified.exit_code == 1

    if finish_with == "repair":
        repaired = runner.invoke(app, ["store", "repair", "--json"])
        assert repaired.exit_code == 0, repaired.output
        report = json.loads(repaired.stdout)
        assert report["temporaries_removed"] == [str(s3_store.child(model)) + "/"]
        assert [k for k in _keys(s3_client, s3_store) if k.startswith("proj/")] == []
    retried = runner.invoke(app, ["promote", str(root), "--alias", "production"])
    assert retried.exit_code == 0, retried.output
    assert "finished the interrupted" not in retried.output  # started afresh
    assert runner.invoke(app, ["verify", str(s3_store.child(model))]).exit_code == 0
    assert [k for k in _keys(s3_client, s3_store) if ".claim-" in k] == []
    assert [r["aliases"] for r in _promoted(runner)] == [["production"]]


@pytest.mark.s3
@pytest.mark.parametrize("finish_with", ["retry", "repair"])
def test_a_promotion_killed_after_its_commit_is_finished(
    runner, tested, s3_store, s3_client, finish_with: str
) -> None:
    root = tested()
    _kill_promotion_at("committed", root, "--alias", "production")
    assert f"proj/cls/{root.name}/entry.json" in _keys(s3_client, s3_store)
    assert _promoted(runner) == []  # committed, not registered yet
    if finish_with == "repair":
        repaired = runner.invoke(app, ["store", "repair", "--json"])
        assert repaired.exit_code == 0, repaired.output
        assert json.loads(repaired.stdout)["added"] == [
            str(s3_store.child(f"proj/cls/{root.name}"))
        ]
        assert read_record(root / "record.json").promotions  # recorded by repair
    else:
        retried = runner.invoke(app, ["promote", str(root), "--alias", "production"])
        assert retried.exit_code == 0 and "finished the interrupted" in retried.output
    assert [r["aliases"] for r in _promoted(runner)] == [["production"]]
    assert [k for k in _keys(s3_client, s3_store) if ".claim-" in k] == []


@pytest.mark.s3
def test_a_live_or_foreign_claim_is_never_taken(runner, tested, s3_store, s3_client) -> None:
    root = tested()
    claim = f"{s3_store.prefix}/proj/cls/.claim-{root.name}.json"
    for owner, said in (
        ({"host": "elsewhere", "pid": 1, "started": "t"}, "another host's claim"),
        ({"host": os.uname().nodename, "pid": os.getpid(), "started": "t"}, "in progress"),
    ):
        s3_client.put_object(Bucket=s3_store.bucket, Key=claim, Body=json.dumps(owner).encode())
        refused = runner.invoke(app, ["promote", str(root)])
        assert refused.exit_code == 1 and said in one_line_error(refused.output)
        repaired = runner.invoke(app, ["store", "repair", "--json"])
        assert repaired.exit_code == 0, repaired.output
        assert [t["host"] for t in json.loads(repaired.stdout)["temporaries_left"]] == [
            owner["host"]
        ]
        assert claim.split("/", 1)[1] in _keys(s3_client, s3_store)


# --- the registry ----------------------------------------------------------------------------


@pytest.mark.s3
def test_registry_changes_are_compare_and_swap(tested, s3_store, runner) -> None:
    from abyssexp.store.registry import index_row
    from abyssexp.store.remote_registry import prepare_registry, read_registry, update_registry

    prepare_registry(s3_store)
    calls = []

    def change(data: dict) -> None:
        calls.append(len(data["models"]))
        if len(calls) == 1:  # another process registers a model between our read and write
            update_registry(s3_store, lambda d: index_row(d, _row("other")))
        index_row(data, _row("mine"))

    update_registry(s3_store, change)
    assert calls == [0, 1]  # the first write failed its If-Match, the change ran again
    assert sorted(m["name"] for m in read_registry(s3_store)["models"]) == ["mine", "other"]


def _row(name: str) -> dict:
    return {"project": "p", "type": "t", "name": name, "path": f"s3://b/p/t/{name}"}


@pytest.mark.s3
def test_two_promotions_at_once_both_land(runner, tested, s3_store) -> None:
    roots = [tested(name=name) for name in ("first", "second")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "abyssexp", "promote", str(r), "--alias", "candidate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for r in roots
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()
    rows = _promoted(runner)
    assert sorted(r["name"] for r in rows) == sorted(r.name for r in roots)
    assert sum(r["aliases"] == ["candidate"] for r in rows) == 1


@pytest.mark.s3
def test_repair_rebuilds_a_broken_registry_and_aliases(runner, tested, s3_store, s3_client) -> None:
    root = tested()
    assert runner.invoke(app, ["promote", str(root), "--alias", "production"]).exit_code == 0
    key = f"{s3_store.prefix}/registry.json"
    s3_client.put_object(Bucket=s3_store.bucket, Key=key, Body=b"{not json")
    broken = runner.invoke(app, ["promoted"])
    assert broken.exit_code == 1 and "store repair" in one_line_error(broken.output)
    repaired = runner.invoke(app, ["store", "repair", "--json"])
    assert repaired.exit_code == 0, repaired.output
    assert ".broken-" in json.loads(repaired.stdout)["broken_registry_kept_as"]
    assert [r["aliases"] for r in _promoted(runner)] == [["production"]]
    moved = runner.invoke(app, ["alias", "set", "proj/cls", "candidate", root.name])
    assert moved.exit_code == 0, moved.output
    assert runner.invoke(app, ["alias", "rm", "proj/cls", "production"]).exit_code == 0
    history = json.loads(runner.invoke(app, ["promoted", "--history", "", "--json"]).stdout)
    assert [(m["alias"], m["to"], m["via"]) for m in history] == [
        ("production", root.name, "promote"),
        ("candidate", root.name, "alias set"),
        ("production", None, "alias rm"),
    ]


# --- predict / export: the download cache ----------------------------------------------------


@pytest.mark.s3
def test_predict_and_export_read_a_cached_download(
    runner, tested, s3_store, tmp_path: Path
) -> None:
    from abyssexp.store.sources import resolve_export_source

    root = tested()
    assert runner.invoke(app, ["promote", str(root), "--alias", "production"]).exit_code == 0
    url = str(s3_store.child(f"proj/cls/{root.name}"))
    checkpoint, testing = resolve_export_source(url, tmp_path, s3_store)
    assert checkpoint.is_relative_to(tmp_path / "cache")
    assert checkpoint.read_bytes() == (root / "models" / "best.keras").read_bytes()
    assert testing is not None and (testing / "cond" / "metrics.json").is_file()
    by_alias, _ = resolve_export_source("proj/cls@production", tmp_path, s3_store)
    assert by_alias == checkpoint
    os.chmod(checkpoint, 0o644)
    checkpoint.write_bytes(b"damaged in the cache")
    again, _ = resolve_export_source(url, tmp_path, s3_store)
    assert again.read_bytes() == (root / "models" / "best.keras").read_bytes()  # downloaded anew
    missing = runner.invoke(app, ["predict", url + "-nope", str(tmp_path)])
    assert missing.exit_code == 1 and "not a promoted model" in one_line_error(missing.output)

"""Promotion is a transaction: kill it anywhere, promote again; the registry keeps every record."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abyssexp.cli import app
from abyssexp.store.manifest import verify_tree


def _fake_trained(runner, scratch: Path, name: str = "ds", size: int = 1 << 20) -> Path:
    result = runner.invoke(app, ["new", "proj", "cls", name])
    assert result.exit_code == 0, result.output
    root = Path(result.stdout.strip().splitlines()[-1])
    with open(root / "models" / "best.keras", "wb") as handle:
        handle.write(os.urandom(size))
    (root / "models" / "model_3.keras").write_bytes(b"epoch 3")
    (root / "testing" / "cond").mkdir(parents=True)
    (root / "testing" / "cond" / "metrics.json").write_text(
        json.dumps({"accuracy": 0.93, "macro_f1": 0.9})
    )
    record = json.loads((root / "record.json").read_text())
    record["tests"] = {"cond": {"accuracy": 0.93}}
    (root / "record.json").write_text(json.dumps(record))
    return root


def test_promote_requirements_layout_aliases_and_verify(
    runner, scratch: Path, tmp_path: Path
) -> None:
    root = _fake_trained(runner, scratch)
    store = tmp_path / "store"
    refused = runner.invoke(
        app, ["promote", str(root), "--require", "cond:accuracy>=0.95", "--store", str(store)]
    )
    assert refused.exit_code == 1 and "measured accuracy = 0.9300" in refused.output
    missing = runner.invoke(
        app, ["promote", str(root), "--require", "other:accuracy>=0.5", "--store", str(store)]
    )
    assert missing.exit_code == 1 and "no testing condition 'other'" in missing.output
    result = runner.invoke(
        app,
        [
            "promote",
            str(root),
            "--require",
            "cond:accuracy>=0.9",
            "--alias",
            "production",
            "--store",
            str(store),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    destination = store / "proj" / "cls" / root.name
    assert json.loads(result.stdout)["destination"] == str(destination)
    for name in (
        "model.keras",
        "params.json",
        "readme.txt",
        "logs/provenance.json",
        "testing/cond/metrics.json",
        "MANIFEST.sha256",
    ):
        assert (destination / name).is_file(), name
    assert not os.access(destination / "model.keras", os.W_OK) or os.geteuid() == 0
    assert (os.stat(destination / "model.keras").st_mode & 0o222) == 0
    assert verify_tree(destination) == []
    again = runner.invoke(app, ["promote", str(root), "--store", str(store)])
    assert again.exit_code == 1 and "already promoted" in again.output
    promoted = json.loads(runner.invoke(app, ["promoted", "--store", str(store), "--json"]).stdout)
    assert (
        promoted[0]["aliases"] == ["production"]
        and promoted[0]["tests"]["cond"]["accuracy"] == 0.93
    )
    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert listed[0]["promoted"] and listed[0]["aliases"] == ["production"]
    assert runner.invoke(app, ["verify", str(destination)]).exit_code == 0


def test_untested_is_refused_unless_forced(runner, scratch: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", "proj", "cls", "ds"])
    root = Path(result.stdout.strip().splitlines()[-1])
    (root / "models" / "best.keras").write_bytes(b"x")
    refused = runner.invoke(app, ["promote", str(root), "--store", str(tmp_path / "s")])
    assert refused.exit_code == 1 and "--force-untested" in refused.output
    forced = runner.invoke(
        app, ["promote", str(root), "--store", str(tmp_path / "s"), "--force-untested", "--move"]
    )
    assert forced.exit_code == 0, forced.output
    assert (root / "models" / "best.keras").is_file()  # the promoted checkpoint stays


def test_tamper_detection(runner, scratch: Path, tmp_path: Path) -> None:
    root = _fake_trained(runner, scratch)
    store = tmp_path / "store"
    assert runner.invoke(app, ["promote", str(root), "--store", str(store)]).exit_code == 0
    destination = store / "proj" / "cls" / root.name
    target = destination / "params.json"
    os.chmod(destination, 0o755)  # promoted folders are read-only too (for a non-root run)
    os.chmod(target, 0o644)
    target.write_text(target.read_text().replace("xception", "resnet50"))
    (destination / "extra.txt").write_text("hello")
    os.chmod(destination / "readme.txt", 0o644)
    (destination / "readme.txt").unlink()
    result = runner.invoke(app, ["verify", str(destination), "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert "changed: params.json (sha256 differs from the manifest)" in problems
    assert (
        "missing: readme.txt" in problems
        and "unexpected: extra.txt (not in the manifest)" in problems
    )


@pytest.mark.slow
def test_sigkill_during_promote_leaves_nothing_or_everything(
    runner, scratch: Path, tmp_path: Path
) -> None:
    root = _fake_trained(runner, scratch, size=96 << 20)
    store = tmp_path / "store"
    destination = store / "proj" / "cls" / root.name
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(scratch)}
    rng = random.Random(0)
    outcomes = set()
    for attempt in range(6):
        process = subprocess.Popen(
            [sys.executable, "-m", "abyssexp", "promote", str(root), "--store", str(store)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3 + rng.uniform(0, 0.6) if attempt else 0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if destination.exists():
            assert verify_tree(destination) == [], "a torn promotion"
            outcomes.add("complete")
            break
        outcomes.add("none")
        registry = store / "registry.json"
        assert not registry.exists() or json.loads(registry.read_text())["models"] == []
    if not destination.exists():
        result = runner.invoke(app, ["promote", str(root), "--store", str(store)])
        assert result.exit_code == 0, result.output
    assert verify_tree(destination) == []
    leftovers = [p.name for p in destination.parent.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []  # stale temporaries of killed promotions were cleaned
    assert "none" in outcomes


@pytest.mark.slow
def test_concurrent_promotions_keep_every_registry_record(
    runner, scratch: Path, tmp_path: Path
) -> None:
    roots = [_fake_trained(runner, scratch, name=f"ds{i}", size=1 << 16) for i in range(8)]
    store = tmp_path / "store"
    env = {**os.environ, "ABYSSEXP_SCRATCH": str(scratch)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "abyssexp",
                "promote",
                str(root),
                "--store",
                str(store),
                "--alias",
                f"a{i}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i, root in enumerate(roots)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()
    registry = json.loads((store / "registry.json").read_text())
    assert sorted(m["name"] for m in registry["models"]) == sorted(r.name for r in roots)
    assert len(registry["aliases"]["proj/cls"]) == 8


def test_gc_keeps_best_last_newest_and_promoted(runner, scratch: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["new", "proj", "cls", "ds"])
    root = Path(result.stdout.strip().splitlines()[-1])
    for epoch in range(1, 7):
        (root / "models" / f"model_{epoch}.keras").write_bytes(b"x" * 1000)
    (root / "models" / "best.keras").write_bytes(b"b")
    record = json.loads((root / "record.json").read_text())
    record["promotions"] = [{"checkpoint": "model_2.keras", "path": "/store/x"}]
    (root / "record.json").write_text(json.dumps(record))
    dry = runner.invoke(app, ["gc", str(root), "--keep", "best,last,2", "--dry-run", "--json"])
    report = json.loads(dry.stdout)
    assert report["experiments"][0]["removed"] == [
        "model_1.keras",
        "model_3.keras",
        "model_4.keras",
    ]
    assert report["freed_bytes"] == 3000 and (root / "models" / "model_1.keras").exists()
    done = runner.invoke(app, ["gc", "--all", "--keep", "best,last,2"])
    assert done.exit_code == 0 and "2.9 KB" in done.stdout
    assert sorted(p.name for p in (root / "models").glob("*.keras")) == [
        "best.keras",
        "model_2.keras",
        "model_5.keras",
        "model_6.keras",
    ]
    bad = runner.invoke(app, ["gc", "--all", "--keep", "everything"])
    assert bad.exit_code == 2

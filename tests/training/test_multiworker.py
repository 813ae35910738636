"""Multi-worker training: refused up front while Keras 3's fit fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585); nothing is written."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.training.helpers import new_tiny, record


def test_tf_config_is_refused_with_one_clear_line(runner, scratch: Path, shapes) -> None:
    root = new_tiny(runner, shapes, "--set", "training.epochs=1")
    cluster = {"worker": ["localhost:23451", "localhost:23452"]}
    env = {
        **os.environ,
        "ABYSSEXP_SCRATCH": str(scratch),
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}),
    }
    result = subprocess.run(
        [sys.executable, "-m", "abyssexp", "train", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "keras-team/keras#20585" in result.stderr and "--gpus N" in result.stderr
    assert "Traceback" not in result.stderr
    assert record(root)["status"] == "new"
    assert not list((root / "models").glob("model_*"))

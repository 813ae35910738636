"""Models abyssexp saves load where abyssexp is not installed: built-in Keras preprocessing only;
`abyssexp.load_model` for the rest, older checkpoints included."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abyssexp.cli import app
from tests.training.helpers import new_tiny

REPO = Path(__file__).resolve().parents[2]

# A process in which `import abyssexp` fails and the repository is off sys.path: what a
# deployment machine with only keras and tensorflow sees.
WITHOUT_ABYSSEXP = f"""
import importlib.abc, json, sys
class NoAbyssexp(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "abyssexp" or name.startswith("abyssexp."):
            raise ImportError("abyssexp is not installed here")
sys.meta_path.insert(0, NoAbyssexp())
sys.path = [p for p in sys.path if p.rstrip("/") not in ({str(REPO)!r}, "", ".")]
import keras, numpy as np
model = keras.models.load_model(sys.argv[1])  # safe mode, Keras' own loader
pixels = np.load(sys.argv[2])
print(json.dumps(model.predict(pixels, verbose=0).tolist()))
assert "abyssexp" not in sys.modules
"""


def test_builtin_preprocessing_equals_each_backbones_preprocess_input() -> None:
    from abyssexp.models.backbones import BACKBONES
    from abyssexp.models.layers import preprocessing_layers

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    seen = set()
    for name, spec in BACKBONES.items():
        if spec.module in seen:
            continue
        seen.add(spec.module)
        module = importlib.import_module(f"keras.applications.{spec.module}")
        expected = np.asarray(module.preprocess_input(pixels.copy()))
        result = pixels
        for layer in preprocessing_layers(name):
            result = layer(result)
        np.testing.assert_allclose(np.asarray(result), expected, atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_trained_model_loads_and_predicts_with_keras_alone(
    runner, scratch: Path, shapes, tmp_path: Path
) -> None:
    root = new_tiny(runner, shapes, "--set", "training.epochs=1")
    trained = runner.invoke(app, ["train", str(root), "--quiet"])
    assert trained.exit_code == 0, trained.output
    best = root / "models" / "best.keras"
    pixels = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "pixels.npy", pixels)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_ABYSSEXP, str(best), str(tmp_path / "pixels.npy")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    import abyssexp

    expected = abyssexp.load_model(best).predict(pixels, verbose=0)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_checkpoints_with_the_old_custom_preprocess_layer_still_load(tmp_path: Path) -> None:
    import keras

    from abyssexp.models.layers import BackbonePreprocess

    inputs = keras.Input((8, 8, 3))
    x = BackbonePreprocess("mobilenet", name="preprocess")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head_dense")(x))
    path = tmp_path / "old.keras"
    model.save(path)
    script = (
        "import sys, numpy as np, abyssexp\n"
        "m = abyssexp.load_model(sys.argv[1], compile=False)\n"
        "print(m.predict(np.full((1, 8, 8, 3), 255.0, 'float32'), verbose=0).shape)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "(1, 2)"

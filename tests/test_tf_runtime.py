"""TensorFlow process settings: defaults only where the user has set nothing."""

import pytest

from abyssexp.tf_runtime import configure_tensorflow_environment


def test_defaults_and_user_values_kept(monkeypatch) -> None:
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_CPU_ALLOCATOR_USE_BFC", "TF_CPU_BFC_MEM_LIMIT_IN_MB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", "false")
    configure_tensorflow_environment()
    import os

    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "false"  # the user's choice stands
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert int(os.environ["TF_CPU_BFC_MEM_LIMIT_IN_MB"]) >= 1024


def test_the_cli_runs_with_the_pooling_allocator() -> None:
    import subprocess
    import sys

    code = "import os, abyssexp.cli.app; print(os.environ['TF_CPU_ALLOCATOR_USE_BFC'])"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("TF_CPU_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "true", out.stderr


def _load_tensorflow_in_a_subprocess(*extra: str) -> str:
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from abyssexp.cli.app import app\n"
        "from abyssexp.tf_runtime import load_tensorflow, show_tensorflow_messages\n"
        "if 'verbose' in sys.argv: show_tensorflow_messages()\n"
        "load_tensorflow()\n"
        "import tensorflow as tf\n"
        "tf.zeros((2, 2)).numpy()\n"
        "import keras.src.wrappers.fixes as fixes\n"
        "extras = ('sklearn', 'matplotlib', 'pandas')\n"
        "print(any(name in sys.modules for name in extras), fixes.sklearn is None)\n"
        "import sklearn, matplotlib.pyplot\n"  # cleanlab (`labels`), abyssexp's own figures
        "print(sklearn.__name__, matplotlib.pyplot.__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    result = subprocess.run(
        [sys.executable, "-c", code, *extra], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    # Keras's extras were not loaded (1.5 s of the start); each still imports afterwards.
    assert result.stdout.split() == ["False", "True", "sklearn", "matplotlib.pyplot"], result.stdout
    return result.stderr


@pytest.mark.slow
def test_tensorflow_start_up_noise_never_reaches_the_terminal() -> None:
    quiet = _load_tensorflow_in_a_subprocess()
    for noise in ("oneDNN", "cuda", "cuInit", "absl::InitializeLog"):
        assert noise not in quiet, quiet
    verbose = _load_tensorflow_in_a_subprocess("verbose")
    # What --verbose shows depends on the machine (CPU: oneDNN and "no CUDA drivers"); here it is
    # at least as much as the quiet run.
    assert len(verbose) >= len(quiet)

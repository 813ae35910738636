"""Build once, compile once: each phase's learning rate reaches ``make_optimizer`` once (the
factory builds without compiling; the run compiles with the one recipe, ``models.compiling``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abyssexp.cli import app
from tests.training.helpers import new_tiny


def _count_optimizers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The real ``make_optimizer``, its calls listed (name of each optimizer made)."""
    from abyssexp.models import optimizers

    made: list[str] = []
    real = optimizers.make_optimizer

    def counting(name, learning_rate, args=None):  # noqa: ANN001, ANN202 - a spy
        made.append(name)
        return real(name, learning_rate, args)

    monkeypatch.setattr(optimizers, "make_optimizer", counting)
    return made


def _count_traces(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keras's real ``train_step``, each time TensorFlow traces it listed."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    traced: list[str] = []
    real = TensorFlowTrainer.train_step

    def counting(self, data):  # noqa: ANN001, ANN202 - a spy
        traced.append(self.name)
        return real(self, data)

    monkeypatch.setattr(TensorFlowTrainer, "train_step", counting)
    return traced


@pytest.mark.slow
@pytest.mark.parametrize(("freeze", "optimizers_made"), [(0, 1), (1, 2)])
def test_each_phase_compiles_once(
    runner, scratch: Path, shapes, monkeypatch: pytest.MonkeyPatch, freeze: int, optimizers_made
) -> None:
    root = new_tiny(
        runner,
        shapes,
        "--set",
        "training.epochs=2",
        "--set",
        f"training.freeze_backbone_epochs={freeze}",
        "--set",
        "callbacks.pr_curves=false",
    )
    made = _count_optimizers(monkeypatch)
    traced = _count_traces(monkeypatch)
    result = runner.invoke(app, ["train", str(root), "--quiet"])
    assert result.exit_code == 0, result.output
    assert made == ["adam"] * optimizers_made  # three before: facade, factory, fine-tuning
    # One trace of the train step per compiled phase: the optimizer's variables exist before
    # fit (``training.run.build_optimizer``), so TensorFlow does not trace it a second time.
    assert len(traced) == optimizers_made, traced


def test_the_seed_constructor_compiles_and_compile_false_only_builds() -> None:
    from abyssexp import ImageClassifier

    common = {"backbone": "mobilenet", "classes": 2, "input_shape": (32, 32, 3)}
    seed = ImageClassifier(**common, init_weights="none", init_lr=1e-3)
    built = ImageClassifier(**common, init_weights="none", compile=False)
    assert seed.model.compiled and float(seed.model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert not built.model.compiled
    built.compile()
    assert built.model.compiled and built.model.loss == "categorical_crossentropy"


@pytest.mark.slow
def test_load_is_a_real_constructor(tmp_path: Path) -> None:
    from abyssexp import ImageClassifier

    original = ImageClassifier(
        backbone="mobilenet",
        classes=3,
        input_shape=(32, 32, 3),
        init_weights="none",
        pooling="max",
        dropout=0.25,
        output_activation="sigmoid",
        optimizer="sgd",
    )
    path = original.save(tmp_path / "model.keras")
    loaded = ImageClassifier.load(path)
    assert (loaded.backbone, loaded.classes, loaded.pooling) == ("mobilenet", 3, "max")
    assert loaded.output_activation == "sigmoid" and loaded.dropout == 0.25
    assert loaded.input_shape == (32, 32, 3) and loaded.optimizer_name == "sgd"
    loaded.compile()  # every attribute a constructor sets is there: it compiles again
    assert loaded.model.compiled and loaded.model.loss == "binary_crossentropy"

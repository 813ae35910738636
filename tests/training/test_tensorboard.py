"""TensorBoard as users expect it, read back with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_hparams_tab_holds_the_flattened_params_and_final_metrics(trained_pair) -> None:
    from tensorboard.plugins.hparams import metadata

    logs = _events(trained_pair.first / "logs")
    content = logs.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    hparams = dict(start.hparams)
    assert hparams["training.lr"].number_value == pytest.approx(0.002)
    assert hparams["model.backbone"].string_value == "tinycnn"
    assert hparams["training.epochs"].number_value == 2
    assert start.group_name or start.hparams  # a session the HParams tab lists
    final = logs.Tensors("hparams/val_loss")
    assert [event.step for event in final] == [1]  # the last epoch, on the epoch axis


def test_per_class_metrics_share_the_epoch_axis_and_lr_is_logged_once(trained_pair) -> None:
    logs = trained_pair.first / "logs"
    train, validation = _events(logs / "train"), _events(logs / "validation")
    per_class = _events(logs / "validation_metrics")
    loss_steps = [e.step for e in validation.Tensors("epoch_loss")]
    assert loss_steps == [0, 1]
    class_tags = [t for t in per_class.Tags()["tensors"] if t.startswith("class/")]
    assert class_tags
    for tag in class_tags:
        assert [e.step for e in per_class.Tensors(tag)] == loss_steps, tag
    train_tags = set(train.Tags()["tensors"])
    assert "epoch_learning_rate" in train_tags and "epoch_lr" not in train_tags
    assert not any("lr" == t.removeprefix("epoch_") for t in validation.Tags()["tensors"])


def test_no_augmented_images_tab_without_augmentation(trained_pair) -> None:
    assert not (trained_pair.first / "logs" / "images").exists()

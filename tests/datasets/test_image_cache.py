"""The disk image cache: same pixels as decoding, shared across pipelines, corrupt entries never
used and rebuilt, least-recently-used eviction, concurrent fills, and ``abyssexp cache``."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from abyssexp.datasets.coco import ImageClassificationDataset

SIZE = (16, 16)


@pytest.fixture(scope="module")
def dataset(shapes) -> ImageClassificationDataset:
    return ImageClassificationDataset(shapes["val"])


def _images(dataset, spec) -> np.ndarray:
    from abyssexp.datasets.pipeline import make_tf_dataset

    return np.concatenate([x.numpy() for x, _ in make_tf_dataset(dataset, spec)])


def _counting_decodes(monkeypatch) -> dict[str, int]:
    import tensorflow as tf

    from abyssexp.datasets import pipeline

    calls = {"n": 0}
    original = pipeline.decode_image

    def counting(path, kind):
        def bump(x):
            calls["n"] += 1
            return x

        image = original(path, kind)
        return tf.ensure_shape(tf.numpy_function(bump, [image], tf.uint8), [None, None, 3])

    monkeypatch.setattr(pipeline, "decode_image", counting)
    return calls


def _specs(tmp_path: Path):
    from abyssexp.datasets.pipeline import PipelineSpec

    plain = PipelineSpec(input_size=SIZE, batch_size=8)
    return plain, dataclasses.replace(plain, disk_cache=tmp_path / "cache")


def test_later_pipelines_read_the_cache_not_the_files(dataset, tmp_path, monkeypatch) -> None:
    plain, cached = _specs(tmp_path)
    expected = _images(dataset, plain)
    calls = _counting_decodes(monkeypatch)
    first = _images(dataset, cached)  # fills the cache: each image decoded once
    assert calls["n"] == len(dataset)
    second = _images(dataset, cached)  # another experiment on the same files
    assert calls["n"] == len(dataset)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)
    assert first.dtype == np.uint8
    entries = sorted((tmp_path / "cache").rglob("*.u8"))
    assert len(entries) == len(dataset)
    # raw uint8 pixels plus a 64-byte header
    assert {e.stat().st_size for e in entries} == {SIZE[0] * SIZE[1] * 3 + 64}


def test_a_changed_file_gets_a_new_entry(tmp_path) -> None:
    from abyssexp.datasets.image_cache import entry_key

    image = tmp_path / "a.jpg"
    image.write_bytes(b"one")
    before = entry_key(image, SIZE, 0)
    assert entry_key(image, SIZE, 1) != before and entry_key(image, (8, 8), 0) != before
    image.write_bytes(b"other")
    assert entry_key(image, SIZE, 0) != before


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove", "swap"])
def test_corrupt_entries_are_never_used_and_are_rebuilt(
    dataset, tmp_path, monkeypatch, damage
) -> None:
    from abyssexp.datasets.pipeline import make_tf_dataset

    plain, cached = _specs(tmp_path)
    expected = _images(dataset, plain)
    ds = make_tf_dataset(dataset, cached)  # fills the cache
    entries = sorted((tmp_path / "cache").rglob("*.u8"))
    victim = entries[0]
    good = victim.read_bytes()
    if damage == "flip":
        data = bytearray(good)
        data[200] ^= 0x40
        victim.write_bytes(bytes(data))
    elif damage == "truncate":
        victim.write_bytes(good[:300])
    elif damage == "remove":
        victim.unlink()
    else:  # another image's entry under this name
        victim.write_bytes(entries[1].read_bytes())
    # A pipeline built before the damage (a running training) decodes the file instead.
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in ds]), expected)
    # The next build rewrites that entry, and only that one.
    calls = _counting_decodes(monkeypatch)
    np.testing.assert_array_equal(_images(dataset, cached), expected)
    assert calls["n"] == 1
    assert victim.read_bytes() == good


@pytest.mark.slow  # a TensorFlow pipeline for seconds
def test_augmented_training_stores_twice_the_input_size(dataset, tmp_path) -> None:
    from abyssexp.augmentation import config_from_any
    from abyssexp.augmentation.tf_backend import image_augmenter_fn
    from abyssexp.datasets.pipeline import PipelineSpec, make_tf_dataset

    spec = PipelineSpec(
        input_size=SIZE, batch_size=8, training=True, repeat=True, disk_cache=tmp_path / "c"
    )
    augment = image_augmenter_fn(config_from_any({"flip_lr": True}), SIZE)
    images, _ = next(iter(make_tf_dataset(dataset, spec, augment_image=augment)))
    assert images.shape == (8, *SIZE, 3)
    sizes = {e.stat().st_size for e in (tmp_path / "c").rglob("*.u8")}
    assert sizes == {4 * SIZE[0] * SIZE[1] * 3 + 64}


def test_least_recently_used_entries_go_first(tmp_path) -> None:
    from abyssexp.datasets.image_cache import cache_info, evict

    root = tmp_path / "cache"
    paths = []
    for i in range(4):
        path = root / "ab" / f"{i}.u8"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + i, 1000 + i))
        paths.append(path)
    os.utime(paths[0], (5000, 5000))  # just used
    removed, freed = evict(root, 250, keep=[paths[1]])
    assert (removed, freed) == (2, 200)
    assert [p.exists() for p in paths] == [True, True, False, False]
    assert cache_info(root).bytes == 200


def test_two_fills_at_once(dataset, tmp_path) -> None:
    from abyssexp.datasets.pipeline import make_tf_dataset

    plain, cached = _specs(tmp_path)
    expected = _images(dataset, plain)
    errors: list[BaseException] = []

    def fill() -> None:
        try:
            make_tf_dataset(dataset, cached)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fill) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp.u8")]
    np.testing.assert_array_equal(_images(dataset, cached), expected)


def test_cache_cli_info_and_clear(runner, scratch: Path) -> None:
    from abyssexp.cli.app import app
    from abyssexp.datasets.image_cache import cache_dir

    root = cache_dir(scratch)
    (root / "ab").mkdir(parents=True)
    (root / "ab" / "x.u8").write_bytes(b"x" * 10)
    (root / "cd").mkdir()
    (root / "cd" / "y.u8").write_bytes(b"y" * 5)
    result = runner.invoke(app, ["cache", "info", "--json"])
    assert result.exit_code == 0, result.output
    assert '"entries": 2' in result.output and '"bytes": 15' in result.output
    result = runner.invoke(app, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert "removed 2 entries" in result.output
    assert root.is_dir() and not list(root.rglob("*"))


def test_clear_never_follows_a_symlinked_cache(runner, scratch: Path, tmp_path: Path) -> None:
    from abyssexp.cli.app import app
    from abyssexp.datasets.image_cache import cache_dir

    elsewhere = tmp_path / "precious"
    (elsewhere / "ab").mkdir(parents=True)
    (elsewhere / "ab" / "keep.u8").write_bytes(b"k")
    root = cache_dir(scratch)
    root.parent.mkdir(parents=True)
    root.symlink_to(elsewhere)
    result = runner.invoke(app, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert (elsewhere / "ab" / "keep.u8").exists()
    assert not root.is_symlink()

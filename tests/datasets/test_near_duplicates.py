"""Near-duplicates (issue 30 item 1): the measured hash rule finds re-encoded, resized and
EXIF-rotated copies of the shapes images; the search finds what comparing every pair finds; the
hash cache makes a second check decode and read nothing, and is rebuilt when it does not
validate."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from abyssexp.cli import app
from abyssexp.datasets.hash_cache import HashCache, hash_cache_path, open_hash_cache
from abyssexp.datasets.near_duplicates import close_pairs, near_duplicate_pairs
from abyssexp.datasets.synthetic import write_shapes_dataset


def test_search_finds_exactly_the_pairs_comparing_all_finds() -> None:
    rng = random.Random(0)
    hashes = [rng.getrandbits(64) for _ in range(3000)]
    for index in range(300):  # planted pairs, 0-10 bits apart
        flips = rng.sample(range(64), rng.randint(0, 10))
        hashes.append(hashes[index] ^ sum(1 << b for b in flips))
    hashes += [0, 1, 3, 2**64 - 1]  # equal top quarters, extremes
    for limit in (4, 8, 10):
        values = np.array(hashes, dtype=np.uint64)
        brute = set()
        for i in range(len(values)):
            far = np.unpackbits((values[i + 1 :] ^ values[i]).view(np.uint8).reshape(-1, 8), 1)
            brute |= {(i, i + 1 + int(j)) for j in np.flatnonzero(far.sum(1) <= limit)}
        found = {(i, j) for i, j, _ in close_pairs(hashes, limit)}
        assert found == brute and len(found) >= 100


def _copies(tmp_path: Path, count: int = 60) -> tuple[dict[str, Path], list[Path], Path]:
    """The shapes dataset, and ``count`` of its training images saved again as JPEG at quality
    70 under new names in a second folder (the issue's case: 16 of 60 missed before)."""
    files = write_shapes_dataset(tmp_path / "shapes", {"train": count}, size=64, seed=3)
    sources = sorted((tmp_path / "shapes" / "images" / "train").glob("*.jpg"))
    folder = tmp_path / "copies"
    folder.mkdir()
    for index, source in enumerate(sources):
        with Image.open(source) as image:
            image.save(folder / f"copy_{index:03d}.jpg", quality=70)
    return files, sources, folder


def test_reencoded_copies_are_all_found_and_grouped(tmp_path: Path, runner) -> None:
    files, sources, folder = _copies(tmp_path)
    copies = sorted(folder.glob("*.jpg"))
    cache = HashCache(None)
    signatures = cache.signatures([*sources, *copies])
    pairs = {(i, j) for i, j, _ in near_duplicate_pairs(signatures)}
    n = len(sources)
    assert all((i, i + n) in pairs for i in range(n))  # every copy with its original
    assert len(pairs) == n  # and nothing else
    # `data split --group-by near` keeps each copy with its original
    train = json.loads(files["train"].read_text())
    merged = {**train, "images": list(train["images"]), "annotations": []}
    for index, path in enumerate(copies):
        merged["images"].append({"id": 1000 + index, "file_name": str(path), "width": 64})
    both = tmp_path / "both.json"
    both.write_text(json.dumps(merged))
    from abyssexp.datasets.tools import near_groups

    groups = near_groups(merged, tmp_path / "shapes")
    assert all(groups[i["id"]] == groups[1000 + k] for k, i in enumerate(train["images"]))
    assert len(set(groups.values())) == n


def test_exif_rotation_and_resizing_are_the_same_picture(tmp_path: Path) -> None:
    from skimage import data  # a real photograph (scikit-image's sample cat, 451×300)

    shown = Image.fromarray(data.chelsea())
    photo = tmp_path / "photo.png"
    shown.save(photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera stored it rotated; the tag turns it upright
    shown.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "rotated.jpg", exif=exif)
    shown.resize((shown.width // 2, shown.height // 2)).save(tmp_path / "half.png")
    shown.save(tmp_path / "same.jpg", quality=50)
    paths = [photo, tmp_path / "rotated.jpg", tmp_path / "half.png", tmp_path / "same.jpg"]
    pairs = near_duplicate_pairs(HashCache(None).signatures(paths))
    assert {(i, j) for i, j, _ in pairs} == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}


def _candled_egg(tmp_path: Path, name: str, colour: tuple[int, int, int]) -> Path:
    """A dark, smooth picture of one lit egg (a real export's candling photos): a soft ellipse
    of ``colour`` on near-black, whose grey image is the same whatever the hue."""
    from PIL import ImageDraw, ImageFilter

    picture = Image.new("RGB", (224, 224), (8, 8, 10))
    ImageDraw.Draw(picture).ellipse((62, 40, 162, 190), fill=colour)
    path = tmp_path / f"{name}.jpg"
    picture.filter(ImageFilter.GaussianBlur(12)).save(path, quality=90)
    return path


def test_eggs_of_different_colours_are_not_near_duplicates(tmp_path: Path) -> None:
    # In a real Roboflow export a yellow and a red candled egg were 2 bits apart in perceptual
    # hash (grey images): the colour check tells them apart, and keeps a copy of either.
    yellow = _candled_egg(tmp_path, "yellow", (150, 135, 30))
    red = _candled_egg(tmp_path, "red", (150, 40, 25))
    with Image.open(yellow) as image:
        image.save(tmp_path / "yellow-again.jpg", quality=50)
    paths = [yellow, red, tmp_path / "yellow-again.jpg"]
    signatures = HashCache(None).signatures(paths)
    assert all(s is not None for s in signatures)
    grey_close = (signatures[0][0] ^ signatures[1][0]).bit_count() <= 10
    assert grey_close  # the case the colour check is for
    assert {(i, j) for i, j, _ in near_duplicate_pairs(signatures)} == {(0, 2)}


def test_second_check_decodes_nothing_and_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    _, sources, folder = _copies(tmp_path, count=12)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    first = open_hash_cache(scratch)
    expected = first.signatures(sources)
    first.save()
    assert first.decoded == 12 and first.read == 12
    again = open_hash_cache(scratch)
    assert again.signatures(sources) == expected
    assert again.decoded == 0 and again.read == 0  # a stat per image, nothing more
    # The same content under another name or place: read (for its digest), not decoded.
    moved = tmp_path / "moved.jpg"
    moved.write_bytes(sources[0].read_bytes())
    assert again.signatures([moved]) == expected[:1] and again.decoded == 0
    # A damaged, foreign or oversized cache is rebuilt, never trusted.
    path = hash_cache_path(scratch)
    document = json.loads(path.read_text())
    key = next(iter(document["entries"]))
    for damaged in (
        b"{not json",
        json.dumps({**document, "hash_cache_version": 99}).encode(),
        json.dumps({**document, "entries": {key: ["00", "zz", -1]}}).encode(),
        json.dumps({**document, "extra": 1}).encode(),
    ):
        path.write_bytes(damaged)
        rebuilt = open_hash_cache(scratch)
        assert rebuilt.signatures(sources) == expected and rebuilt.decoded == 12
    # No scratch root yet: kept in memory, nothing created.
    assert open_hash_cache(tmp_path / "absent").path is None
    assert not (tmp_path / "absent").exists()
    del folder


def test_data_leaks_near_uses_the_measured_rule(tmp_path: Path, runner, scratch: Path) -> None:
    files, sources, folder = _copies(tmp_path, count=24)
    copies = json.loads(files["train"].read_text())
    copies["images"] = [
        {**image, "file_name": f"copy_{k:03d}.jpg"} for k, image in enumerate(copies["images"])
    ]
    (folder / "coco.json").write_text(json.dumps(copies))
    result = runner.invoke(
        app, ["data", "leaks", str(files["train"]), str(folder / "coco.json"), "--near", "--json"]
    )
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["counts"]["near duplicate"] == 24

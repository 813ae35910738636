"""Near-duplicate detection: which hash (or combination) finds copies and leaves distinct images
alone, and how fast the search is at 100,000 images (issue 30 item 1).

Bases: real photographs (tiles of the sample photos that ship with scikit-image, matplotlib and
scikit-learn: a cat, an astronaut, coffee, coins, a rocket, a retina, text, ...) and the synthetic
shapes (64×64 and 32×32, as the shapes dataset writes them). Positives: each base against a copy
under one transformation (JPEG re-encoding at quality 50/70/95, resizing 0.5–2×, crops of 5 and
10 %, brightness ±10 %, EXIF rotation: the pixels stored rotated and the tag that turns them
upright). Negatives: every pair of distinct bases, among them different images of the same class
(shapes of one category, tiles of one texture) and burst-like neighbours that differ (a photo
window shifted by a quarter of its width; the same background with the shape drawn elsewhere).

Per transformation, the copies are mixed with the bases and every pair is judged: recall is the
share of copies found with their original; precision is found copies / all pairs found (copies
plus every false pair among bases and copies). Then the search: 100,000 random hashes with 1,000
planted near pairs, multi-index search against comparing every pair (timed on 10,000 and scaled
by n², since all pairs at 100,000 take minutes), in rounds, medians and ranges.

Last, the cost of hashing a cold cache: one loop, threads, processes (``--part pool``).

Run: ``python benchmarks/bench_near_duplicates.py`` (about a minute; ``--quick`` for fewer bases;
``--part`` for some parts only).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from abyssexp.datasets import synthetic  # noqa: E402
from abyssexp.datasets.near_duplicates import (  # noqa: E402
    AGREEMENT_DISTANCE,
    CHROMA_DISTANCE,
    CONFIRM_DISTANCE,
    NEAR_DISTANCE,
    close_pairs,
    image_signature,
)

TRANSFORMS: list[tuple[str, str, float]] = [
    ("jpeg q50", "jpeg", 50),
    ("jpeg q70", "jpeg", 70),
    ("jpeg q95", "jpeg", 95),
    ("resize 0.5x", "resize", 0.5),
    ("resize 0.75x", "resize", 0.75),
    ("resize 1.5x", "resize", 1.5),
    ("resize 2x", "resize", 2.0),
    ("crop 5%", "crop", 0.05),
    ("crop 10%", "crop", 0.10),
    ("bright -10%", "bright", -0.1),
    ("bright +10%", "bright", 0.1),
    ("exif rot 90", "exif", 6),
    ("exif rot 180", "exif", 3),
]
GOAL_ROWS = ("jpeg", "resize")


def photos() -> list[Path]:
    """Real photographs found in installed packages (nothing is downloaded)."""
    import matplotlib
    import skimage
    import sklearn

    data = Path(skimage.__file__).parent / "data"
    names = ["astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png"]
    names += ["grass.png", "gravel.png", "hubble_deep_field.jpg", "retina.jpg", "rocket.jpg"]
    names += ["motorcycle_left.png", "page.png", "text.png", "moon.png", "ihc.png", "cell.png"]
    names += ["clock_motion.png", "color.png", "horse.png"]
    found = [data / n for n in names]
    found.append(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    images = Path(sklearn.__file__).parent / "datasets" / "images"
    found += [images / "china.jpg", images / "flower.jpg"]
    return [p for p in found if p.is_file()]


def bases(shapes: int) -> list[tuple[str, Image.Image, str]]:
    """(name, picture, kind): four tiles of each photo and a burst neighbour of the first; the
    synthetic shapes at 64 and 32 px, some with a burst neighbour (same background)."""
    found = []
    for path in photos():
        with Image.open(path) as image:
            picture = ImageOps.exif_transpose(image).convert("RGB")
        w, h = picture.width // 2, picture.height // 2
        for k, (x, y) in enumerate([(0, 0), (w, 0), (0, h), (w, h)]):
            found.append((f"{path.stem}_{k}", picture.crop((x, y, x + w, y + h)), "photo"))
        found.append((f"{path.stem}_burst", picture.crop((w // 4, 0, w // 4 + w, h)), "burst"))
    for i in range(shapes):
        for size in (64, 32):
            rng = np.random.default_rng([i, size])
            background = synthetic._background(rng, size)
            shape = synthetic.CATEGORIES[i % 6]["name"]
            picture = background.copy()
            synthetic.draw_shape(picture, shape, rng)
            found.append((f"shape{size}_{i}", picture, f"shape {shape}"))
            if i % 2 == 0:
                moved = background.copy()
                synthetic.draw_shape(moved, shape, np.random.default_rng([i, size, 9]))
                found.append((f"shape{size}_{i}_burst", moved, "burst"))
    return found


def transform(picture: Image.Image, kind: str, value: float, path: Path) -> None:
    """Save a copy of ``picture`` under one transformation."""
    w, h = picture.size
    if kind == "jpeg":
        picture.save(path, quality=int(value))
    elif kind == "resize":
        size = (max(8, round(w * value)), max(8, round(h * value)))
        picture.resize(size, Image.Resampling.LANCZOS).save(path, quality=95)
    elif kind == "crop":
        dx, dy = int(w * value), int(h * value)
        picture.crop((dx // 2, dy // 2, w - (dx - dx // 2), h - (dy - dy // 2))).save(path)
    elif kind == "bright":
        ImageEnhance.Brightness(picture).enhance(1 + value).save(path, quality=95)
    else:
        turn = {6: Image.Transpose.ROTATE_90, 3: Image.Transpose.ROTATE_180}[int(value)]
        exif = Image.Exif()
        exif[0x0112] = int(value)
        picture.transpose(turn).save(path, quality=95, exif=exif)


def previous_dhash(path: Path) -> int:
    """The difference hash ``data leaks --near`` used before (no EXIF orientation)."""
    with Image.open(path) as image:
        image.draft("L", (32, 32))
        grey = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BOX))
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hashes_of(paths: list[Path]) -> np.ndarray:
    """Per image: the previous dHash, then phash, dhash and whash of the image as shown, and
    its chroma."""
    rows = []
    for path in paths:
        signature = image_signature(path) or (0, 0, 0, 0)
        rows.append((previous_dhash(path), *signature))
    return np.array(rows, dtype=np.uint64)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances of every row of ``a`` to every row of ``b``: bits per hash, then the chroma
    distance (``near_duplicates.chroma_distance``): (5, len a, len b)."""
    bits = np.bitwise_count(a.T[:4, :, None] ^ b.T[:4, None, :]).astype(np.int64)
    first, second = a[:, 4].astype(np.int64), b[:, 4].astype(np.int64)
    red = np.abs((first[:, None] >> 8) - (second[None, :] >> 8))
    green = np.abs((first[:, None] & 0xFF) - (second[None, :] & 0xFF))
    return np.concatenate([bits, np.maximum(red, green)[None]])


Rule = Callable[[np.ndarray], np.ndarray]


def _hashes_rule(
    d: np.ndarray,
    near: int = NEAR_DISTANCE,
    agreement: int = AGREEMENT_DISTANCE,
    confirm: int = CONFIRM_DISTANCE,
) -> np.ndarray:
    return ((d[1] <= near) & (d[3] <= confirm)) | ((d[2] <= agreement) & (d[3] <= agreement))


CANDIDATES: dict[str, Rule] = {
    "dHash<=4 (before)": lambda d: d[0] <= 4,
    "dHash<=8 (before)": lambda d: d[0] <= 8,
    "dHash+EXIF<=8": lambda d: d[2] <= 8,
    "wHash<=6": lambda d: d[3] <= 6,
    "pHash<=6": lambda d: d[1] <= 6,
    "pHash<=8": lambda d: d[1] <= 8,
    "pHash<=10": lambda d: d[1] <= 10,
    "pHash<=8 | d&wHash<=6": lambda d: (d[1] <= 8) | ((d[2] <= 6) & (d[3] <= 6)),
    "pHash<=8 & wHash<=10 | d&wHash<=4": lambda d: (
        ((d[1] <= 8) & (d[3] <= 10)) | ((d[2] <= 4) & (d[3] <= 4))
    ),
    "pHash<=8 & wHash<=16 | d&wHash<=4 (before chroma)": lambda d: _hashes_rule(d, 8),
    "... & chroma<=6": lambda d: _hashes_rule(d, 8) & (d[4] <= 6),
    "... & chroma<=12": lambda d: _hashes_rule(d, 8) & (d[4] <= 12),
    "... & chroma<=20": lambda d: _hashes_rule(d, 8) & (d[4] <= 20),
    "pHash<=10 & wHash<=16 | d&wHash<=6, chroma<=8": lambda d: _hashes_rule(d, 10, 6) & (d[4] <= 8),
    "pHash<=10 & wHash<=20 | d&wHash<=4, chroma<=8": lambda d: (
        _hashes_rule(d, 10, 4, 20) & (d[4] <= 8)
    ),
    "pHash<=12 & wHash<=16 | d&wHash<=4, chroma<=8": lambda d: _hashes_rule(d, 12) & (d[4] <= 8),
    (
        f"pHash<={NEAR_DISTANCE} & wHash<={CONFIRM_DISTANCE} | d&wHash<={AGREEMENT_DISTANCE}, "
        f"chroma<={CHROMA_DISTANCE} (chosen)"
    ): lambda d: _hashes_rule(d) & (d[4] <= CHROMA_DISTANCE),
}


def evaluate(folder: Path, shapes: int) -> None:
    """The precision/recall table, one row per transformation, one column pair per rule."""
    found = bases(shapes)
    paths = []
    for name, picture, _ in found:
        paths.append(folder / f"{name}.png")
        picture.save(paths[-1])
    base = hashes_of(paths)
    among = distances(base, base)
    upper = np.triu(np.ones(among.shape[1:], dtype=bool), 1)
    kinds = np.array([k for _, _, k in found])
    burst = (kinds[:, None] == "burst") | (kinds[None, :] == "burst")
    same = (kinds[:, None] == kinds[None, :]) & (kinds[:, None] != "burst")
    print(f"{len(found)} bases ({len(photos())} photos), pairs of distinct bases: {upper.sum()}")
    print("false pairs among distinct bases (all / same class / burst neighbours):")
    false_base = {}
    for name, rule in CANDIDATES.items():
        hit = rule(among) & upper
        false_base[name] = int(hit.sum())
        print(f"  {name:<42} {hit.sum():>4} / {(hit & same).sum():>3} / {(hit & burst).sum():>3}")
    rows = []
    for label, kind, value in TRANSFORMS:
        copies = []
        for name, picture, _ in found:
            copies.append(folder / f"{name}.{kind}{value}.{'png' if kind == 'crop' else 'jpg'}")
            transform(picture, kind, value, copies[-1])
        copy = hashes_of(copies)
        cross, between = distances(copy, base), distances(copy, copy)
        eye = np.eye(len(found), dtype=bool)
        cells = []
        for name, rule in CANDIDATES.items():
            hit = rule(cross)
            true = int((hit & eye).sum())
            false = int((hit & ~eye).sum()) + int((rule(between) & upper).sum()) + false_base[name]
            cells.append((true / len(found), true / max(1, true + false)))
        rows.append((label, cells))
    _print_table(rows)


def _print_table(rows: list[tuple[str, list[tuple[float, float]]]]) -> None:
    names = list(CANDIDATES)
    for index, name in enumerate(names):
        print(f"[{index}] {name}")
    print("recall / precision per transformation (goal on jpeg and resize rows: >= 0.98 / 0.99)")
    print(f"{'':<13}" + "".join(f"{f'[{i}]':>12}" for i in range(len(names))))
    for label, cells in rows:
        print(f"{label:<13}" + "".join(f"{r:>6.3f}/{p:.3f}"[-12:].rjust(12) for r, p in cells))
    for index in range(len(names)):
        goal = [c[index] for label, c in rows if label.startswith(GOAL_ROWS)]
        met = all(r >= 0.98 and p >= 0.99 for r, p in goal)
        worst = (min(r for r, _ in goal), min(p for _, p in goal))
        print(
            f"[{index}] goal rows: min recall {worst[0]:.3f}, min precision {worst[1]:.3f}: "
            f"{'met' if met else 'missed'}"
        )


def search(rounds: int) -> None:
    """Multi-index search at 100,000 hashes against comparing every pair."""
    rng = random.Random(0)
    hashes = [rng.getrandbits(64) for _ in range(99_000)]
    for index in range(1000):
        flips = rng.sample(range(64), rng.randint(0, NEAR_DISTANCE))
        hashes.append(hashes[index] ^ sum(1 << b for b in flips))
    sample = hashes[:9000] + hashes[-1000:]
    indexed, brute = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        pairs = close_pairs(hashes, NEAR_DISTANCE)
        indexed.append(time.perf_counter() - start)
        values = np.array(sample, dtype=np.uint64)
        start = time.perf_counter()
        for row in range(len(values) - 1):
            np.flatnonzero(np.bitwise_count(values[row + 1 :] ^ values[row]) <= NEAR_DISTANCE)
        brute.append((time.perf_counter() - start) * (len(hashes) / len(sample)) ** 2)
    planted = sum(1 for a, b, _ in pairs if b >= 99_000 and a == b - 99_000)
    ratios = [b / i for i, b in zip(indexed, brute, strict=True)]

    def spread(values: list[float], fmt: str) -> str:
        low, mid, high = min(values), statistics.median(values), max(values)
        return f"{fmt.format(mid)} ({fmt.format(low)}–{fmt.format(high)})"

    print(f"search, 100,000 hashes, {rounds} rounds, median (range):")
    print(
        f"  multi-index        {spread(indexed, '{:.2f}')} s, {len(pairs)} pairs, "
        f"planted found {planted}/1000"
    )
    print(f"  every pair (n²)    {spread(brute, '{:.1f}')} s (10,000 timed, scaled by n²)")
    print(f"  ratio              {spread(ratios, '{:.1f}')}× faster")


def _photo_split(folder: Path, count: int) -> dict[str, Path]:
    """``count`` 640×480 JPEG photos (windows of the sample photos), 80/20 in two COCO files."""
    import json

    sources = []
    for path in photos():
        with Image.open(path) as image:
            sources.append(ImageOps.exif_transpose(image).convert("RGB").resize((1280, 960)))
    rng = random.Random(1)
    files = {}
    for split, share in (("train", 0.8), ("val", 0.2)):
        images = []
        for index in range(int(count * share)):
            source = rng.choice(sources)
            x, y = rng.randrange(0, 640), rng.randrange(0, 480)
            name = f"{split}_{index:05d}.jpg"
            source.crop((x, y, x + 640, y + 480)).save(folder / name, quality=90)
            images.append({"id": index, "file_name": name, "width": 640, "height": 480})
        files[split] = folder / f"{split}.json"
        files[split].write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    return files


def check_cost(folder: Path, rounds: int, scale: float = 1.0) -> None:
    """What the near-duplicate check adds to ``new`` / ``data check --val``: the leak verdict
    with identical images only, with near-duplicates on a cold hash cache, and on a warm one."""
    from abyssexp.datasets.hash_cache import HashCache, open_hash_cache
    from abyssexp.datasets.leaks import check_split_leaks

    sets = {
        f"shapes 64px {int(750 * scale)}": synthetic.write_shapes_dataset(
            folder / "shapes", {"train": int(600 * scale), "val": int(150 * scale)}, seed=5
        ),
        f"photos 640x480 {int(300 * scale)}": _photo_split(folder, int(300 * scale)),
    }
    print(f"cost of the leak verdict ({rounds} rounds, median (range), seconds):")
    for label, files in sets.items():
        splits = {s: (files[s], files[s].parent) for s in ("train", "val")}
        times: dict[str, list[float]] = {
            "identical only": [],
            "+ near, cold": [],
            "+ near, warm": [],
        }
        for round_index in range(rounds):
            scratch = folder / f"scratch{label[:6]}{round_index}"
            scratch.mkdir()
            cases = [
                ("identical only", False, HashCache(None)),
                ("+ near, cold", True, None),
                ("+ near, warm", True, None),
            ]
            for name, near, cache in cases:
                start = time.perf_counter()
                check_split_leaks(splits, near=near, hashes=cache or open_hash_cache(scratch))
                times[name].append(time.perf_counter() - start)
        base = statistics.median(times["identical only"])
        for name, values in times.items():
            mid = statistics.median(values)
            print(
                f"  {label:<22} {name:<15} {mid:6.2f} ({min(values):.2f}–{max(values):.2f})"
                f"  {mid / base:5.1f}× identical-only"
            )


def pool_cost(folder: Path, rounds: int) -> None:
    """Hashing the images of a cold cache: one loop, eight threads (before the ninth session),
    and what ``hash_cache`` does now (one process per core from 256 images), in rounds with the
    cases in turn; the same signatures from each."""
    from concurrent.futures import ThreadPoolExecutor

    from abyssexp.datasets.hash_cache import _compute_signatures
    from abyssexp.worker_pool import usable_cores

    shapes = synthetic.write_shapes_dataset(folder / "shapes", {"train": 1500}, size=64, seed=6)
    files = _photo_split(folder, 500)
    sets = {
        "shapes 64px 1500": sorted(shapes["train"].parent.rglob("*.jpg")),
        "photos 640x480 400": sorted(files["train"].parent.glob("train_*.jpg")),
    }

    def threads(paths: list[Path]) -> list:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(image_signature, paths))

    cases: dict[str, Callable[[list[Path]], list]] = {
        "one loop": lambda paths: [image_signature(p) for p in paths],
        "8 threads (before)": threads,
        f"{usable_cores()} processes (now)": lambda paths: _compute_signatures(paths, 8),
    }
    print(f"hashing a cold cache ({rounds} rounds, median (range), seconds):")
    for label, paths in sets.items():
        times: dict[str, list[float]] = {name: [] for name in cases}
        expected = cases["one loop"](paths)
        for _ in range(rounds):
            for name, run in cases.items():
                start = time.perf_counter()
                assert run(paths) == expected, name
                times[name].append(time.perf_counter() - start)
        before = statistics.median(times["8 threads (before)"])
        for name, values in times.items():
            mid = statistics.median(values)
            print(
                f"  {label:<19} {name:<19} {mid:5.2f} ({min(values):.2f}–{max(values):.2f})"
                f"  {before / mid:4.1f}× the threads"
            )


PARTS = ("quality", "search", "cost", "pool")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes, one search round")
    parser.add_argument("--part", choices=PARTS, action="append", help="only these (repeatable)")
    args = parser.parse_args()
    parts = args.part or PARTS
    if "quality" in parts:
        with tempfile.TemporaryDirectory() as folder:
            evaluate(Path(folder), 20 if args.quick else 60)
    if "search" in parts:
        search(1 if args.quick else 3)
    if "cost" in parts:
        with tempfile.TemporaryDirectory() as folder:
            check_cost(Path(folder), 1 if args.quick else 3)
    if "pool" in parts:
        with tempfile.TemporaryDirectory() as folder:
            pool_cost(Path(folder), 1 if args.quick else 3)


if __name__ == "__main__":
    main()

"""The embedded shapes dataset: real JPEGs of coloured shapes on textured backgrounds.

Six categories with non-contiguous ids grouped into three supercategories, so a supercategory map
(``map_by: supercategory``) collapses a real hierarchy. Labels are zero-area bounding boxes, exactly
as the original team stored image-level labels. Seeded and deterministic; nothing is downloaded.

Regenerate with ``python -m abyssexp.datasets.synthetic OUT_DIR`` (what ``make-datasets.sh`` runs).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: id, name, supercategory. Ids are deliberately not 1..K.
CATEGORIES: list[dict[str, Any]] = [
    {"id": 3, "name": "circle", "supercategory": "round"},
    {"id": 7, "name": "ellipse", "supercategory": "round"},
    {"id": 11, "name": "square", "supercategory": "boxy"},
    {"id": 12, "name": "rectangle", "supercategory": "boxy"},
    {"id": 20, "name": "triangle", "supercategory": "pointy"},
    {"id": 31, "name": "star", "supercategory": "pointy"},
]
SPLITS = {"train": 600, "val": 150, "test": 150}
PALETTE = [
    (230, 40, 40),
    (40, 170, 40),
    (40, 70, 220),
    (240, 210, 30),
    (20, 20, 20),
    (245, 245, 245),
    (200, 60, 200),
    (30, 200, 210),
]


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """Textured background: a colour gradient, stripes at a random angle and noise."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(90, 170, size=3)
    slope = rng.uniform(-40, 40, size=(2, 3))
    image = base + x[..., None] * slope[0] + y[..., None] * slope[1]
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(4, 12)
    stripes = np.sin((x * math.cos(angle) + y * math.sin(angle)) * size / period * 2 * math.pi)
    image += stripes[..., None] * rng.uniform(2, 8)
    image += rng.normal(0, 4, size=image.shape)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def _star(cx: float, cy: float, r: float, rot: float, points: int = 5) -> list[tuple[float, float]]:
    out = []
    for i in range(points * 2):
        radius = r if i % 2 == 0 else r * 0.45
        a = rot + i * math.pi / points
        out.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
    return out


def draw_shape(image: Image.Image, name: str, rng: np.random.Generator) -> None:
    size = image.size[0]
    draw = ImageDraw.Draw(image)
    r = rng.uniform(0.22, 0.36) * size
    cx, cy = (rng.uniform(r + 1, size - r - 1) for _ in range(2))
    background = np.asarray(image, dtype=np.float32).mean(axis=(0, 1))
    # A palette colour (independent of the class) that stands out from the background.
    distances = [np.linalg.norm(np.asarray(c) - background) for c in PALETTE]
    usable = [c for c, d in zip(PALETTE, distances, strict=True) if d > 110] or [
        PALETTE[int(np.argmax(distances))]
    ]
    colour = usable[int(rng.integers(len(usable)))]
    # Mostly upright shapes with a small tilt: learnable from a few hundred images from scratch.
    rot = rng.uniform(-0.3, 0.3)
    box = [cx - r, cy - r, cx + r, cy + r]
    if name == "circle":
        draw.ellipse(box, fill=colour)
    elif name == "ellipse":
        # A rotated ellipse with axes r and 0.55 r, as a polygon.
        pts = [
            (
                cx + r * math.cos(t) * math.cos(rot) - 0.55 * r * math.sin(t) * math.sin(rot),
                cy + r * math.cos(t) * math.sin(rot) + 0.55 * r * math.sin(t) * math.cos(rot),
            )
            for t in np.linspace(0, 2 * math.pi, 48, endpoint=False)
        ]
        draw.polygon(pts, fill=colour)
    elif name == "square":
        pts = [
            (cx + r * math.cos(rot + k * math.pi / 2), cy + r * math.sin(rot + k * math.pi / 2))
            for k in range(4)
        ]
        draw.polygon(pts, fill=colour)
    elif name == "rectangle":
        half_w, half_h = r, 0.5 * r
        corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)]
        pts = [
            (cx + u * math.cos(rot) - v * math.sin(rot), cy + u * math.sin(rot) + v * math.cos(rot))
            for u, v in corners
        ]
        draw.polygon(pts, fill=colour)
    elif name == "triangle":
        pts = [
            (
                cx + r * math.cos(rot + k * 2 * math.pi / 3),
                cy + r * math.sin(rot + k * 2 * math.pi / 3),
            )
            for k in range(3)
        ]
        draw.polygon(pts, fill=colour)
    elif name == "star":
        draw.polygon(_star(cx, cy, r, rot - math.pi / 2), fill=colour)
    else:  # pragma: no cover - names come from CATEGORIES
        raise ValueError(f"unknown shape {name!r}")


def write_shapes_dataset(
    out_dir: Path | str,
    splits: dict[str, int] | None = None,
    size: int = 64,
    seed: int = 0,
    quality: int = 90,
) -> dict[str, Path]:
    """Write ``images/<split>/*.jpg`` and ``coco.<split>.json`` under ``out_dir``.

    Returns:
        The COCO file of each split.
    """
    out = Path(out_dir)
    splits = splits or SPLITS
    written: dict[str, Path] = {}
    image_id = 1
    annotation_id = 1
    for split_index, (split, count) in enumerate(splits.items()):
        folder = out / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, split_index])
        order = random.Random(seed * 1000 + split_index)
        images, annotations = [], []
        for i in range(count):
            category = (
                CATEGORIES[i % len(CATEGORIES)] if i < len(CATEGORIES) else order.choice(CATEGORIES)
            )
            picture = _background(rng, size)
            draw_shape(picture, category["name"], rng)
            picture = picture.filter(ImageFilter.GaussianBlur(radius=0.4))
            file_name = f"images/{split}/{split}_{i:05d}.jpg"
            picture.save(out / file_name, quality=quality)
            images.append({"id": image_id, "file_name": file_name, "width": size, "height": size})
            annotations.append(
                {
                    "id": annotation_id,
                    "image_id": image_id,
                    "category_id": category["id"],
                    "bbox": [0, 0, 0, 0],
                    "area": 0,
                    "segmentation": [],
                    "iscrowd": 0,
                }
            )
            image_id += 1
            annotation_id += 1
        coco = {
            "info": {"description": f"abyssexp synthetic shapes, {split} split", "version": "1.0"},
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": CATEGORIES,
        }
        path = out / f"coco.{split}.json"
        path.write_text(json.dumps(coco, indent=1))
        written[split] = path
    script = out / "make-datasets.sh"
    counts = " ".join(f"--{name} {n}" for name, n in splits.items() if name in SPLITS)
    script.write_text(
        "#!/bin/sh\n# Regenerates this dataset exactly (seeded).\n"
        f'python -m abyssexp.datasets.synthetic "$(dirname "$0")" --size {size} --seed {seed} '
        f"{counts}\n"
    )
    script.chmod(0o755)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    for split, count in SPLITS.items():
        parser.add_argument(f"--{split}", type=int, default=count)
    args = parser.parse_args(argv)
    write_shapes_dataset(
        args.out_dir, {s: getattr(args, s) for s in SPLITS}, size=args.size, seed=args.seed
    )


if __name__ == "__main__":
    main()

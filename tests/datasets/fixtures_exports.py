"""Small exports shaped like CVAT, Roboflow and Label Studio COCO exports (synthetic images).

Each writer copies its tool's folder layout and JSON quirks, from public exports:

- CVAT "COCO 1.0": ``annotations/instances_<subset>.json``, images in ``images/<subset>/``;
  ``info``/``licenses`` with empty strings, categories from id 1 with supercategory ``""``,
  detection boxes with ``attributes: {"occluded": false}``.
- Roboflow "COCO": ``<split>/_annotations.coco.json`` next to the split's images (``valid`` not
  ``val``); ``info.description`` "Exported from roboflow.com"; category 0 a placeholder named
  like the project with supercategory ``none``, the real ones with the project as supercategory;
  file names like ``x_jpg.rf.<hash>.jpg``.
- Label Studio "COCO": ``result.json`` and ``images/``; ``file_name``s with an ``images/`` (or
  ``/data/upload/N/``) prefix; category ids from 0 without supercategory; one file, no splits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

COLOURS = [(200, 40, 40), (40, 60, 210), (40, 170, 60), (220, 200, 40)]


def write_image(path: Path, label: int | None, seed: int, size: int = 32) -> tuple[int, int]:
    """A noisy image whose colour says its class (grey for no label); a 'break' is a line."""
    rng = np.random.default_rng(seed)
    colour = (128, 128, 128) if label is None else COLOURS[label % len(COLOURS)]
    pixels = np.clip(rng.normal(colour, 18, size=(size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=90)
    return size, size


def _box(annotation_id: int, image_id: int, category_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": [],
        "area": 96.0,
        "bbox": [4.0, 4.0, 12.0, 8.0],
        "iscrowd": 0,
        **extra,
    }


def write_cvat_export(root: Path, subsets: dict[str, int], names=("cat", "dog")) -> dict[str, Path]:
    """A CVAT COCO 1.0 export; returns the annotation file per subset."""
    categories = [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(names)]
    files = {}
    seed = 0
    for subset, count in subsets.items():
        images, annotations = [], []
        for index in range(count):
            label = index % len(names)
            name = f"frame_{index:06d}.jpg"
            seed += 1
            width, height = write_image(root / "images" / subset / name, label, seed)
            images.append(
                {
                    "id": index + 1,
                    "width": width,
                    "height": height,
                    "file_name": name,
                    "license": 0,
                    "flickr_url": "",
                    "coco_url": "",
                    "date_captured": 0,
                }
            )
            annotations.append(
                _box(index + 1, index + 1, label + 1, attributes={"occluded": False})
            )
        data = {
            "licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {
                "contributor": "",
                "date_created": "",
                "description": "",
                "url": "",
                "version": "",
                "year": "",
            },
            "categories": categories,
            "images": images,
            "annotations": annotations,
        }
        path = root / "annotations" / f"instances_{subset}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        files[subset] = path
    return files


def write_roboflow_export(
    root: Path, splits: dict[str, int], project: str = "pets", names=("cat", "dog")
) -> dict[str, Path]:
    """A Roboflow COCO export with its placeholder category 0; returns the file per split."""
    categories = [{"id": 0, "name": project, "supercategory": "none"}] + [
        {"id": i + 1, "name": n, "supercategory": project} for i, n in enumerate(names)
    ]
    files = {}
    seed = 100
    for split, count in splits.items():
        images, annotations = [], []
        for index in range(count):
            label = index % len(names)
            digest = hashlib.md5(f"{split}{index}".encode()).hexdigest()
            name = f"IMG_{index:04d}_jpg.rf.{digest}.jpg"
            seed += 1
            width, height = write_image(root / split / name, label, seed)
            images.append(
                {
                    "id": index,
                    "license": 1,
                    "file_name": name,
                    "height": height,
                    "width": width,
                    "date_captured": "2023-05-01T10:00:00+00:00",
                }
            )
            annotations.append(_box(index, index, label + 1))
        data = {
            "info": {
                "year": "2023",
                "version": "1",
                "description": "Exported from roboflow.com",
                "contributor": "",
                "url": "https://public.roboflow.com/object-detection/pets",
                "date_created": "2023-05-01T10:00:00+00:00",
            },
            "licenses": [
                {
                    "id": 1,
                    "url": "https://creativecommons.org/licenses/by/4.0/",
                    "name": "CC BY 4.0",
                }
            ],
            "categories": categories,
            "images": images,
            "annotations": annotations,
        }
        path = root / split / "_annotations.coco.json"
        path.write_text(json.dumps(data))
        files[split] = path
    return files


def write_label_studio_export(
    root: Path,
    count: int,
    names=("Cat", "Dog"),
    prefix: str = "images/",
    unlabelled: int = 0,
    seed: int = 500,
) -> Path:
    """A Label Studio COCO export (one ``result.json``); ``unlabelled`` images carry no label
    (a one-name export then is "defect vs nothing"). Exports made with one ``seed`` share their
    pixels: give each split its own, or ``new`` rightly refuses the overlap."""
    categories = [{"id": i, "name": n} for i, n in enumerate(names)]
    images, annotations = [], []
    for index in range(count + unlabelled):
        label = index % len(names) if index < count else None
        stem = f"{hashlib.md5(str(index).encode()).hexdigest()[:8]}-photo{index}.jpg"
        width, height = write_image(root / "images" / stem, label, seed + index)
        images.append(
            {"width": width, "height": height, "id": index, "file_name": f"{prefix}{stem}"}
        )
        if label is not None:
            annotations.append({**_box(len(annotations), index, label), "ignore": 0})
    data = {
        "images": images,
        "categories": categories,
        "annotations": annotations,
        "info": {
            "year": 2024,
            "version": "1.0",
            "description": "",
            "contributor": "Label Studio",
            "url": "",
            "date_created": "2024-02-01 10:00:00.000000",
        },
    }
    path = root / "result.json"
    path.write_text(json.dumps(data))
    return path


TINY = [
    "--set",
    "model.backbone=tinycnn",
    "--set",
    "model.init_weights=none",
    "--set",
    "model.input_shape=[32,32,3]",
    "--set",
    "training.batch_size=8",
    "--set",
    "training.epochs=2",
    "--set",
    "training.lr=0.005",
    "--set",
    "callbacks.log_images=0",
]


def first_attempt(runner, train: Path, val: Path, test: Path, *extra: str) -> dict[str, Any]:
    """``data check`` → ``new`` → ``train`` → ``test`` as a new user runs them, no map written
    by hand; every step must succeed the first time. Returns what each step said."""
    from abyssexp.cli import app

    check = runner.invoke(app, ["data", "check", str(train), "--val", str(val), *_check(extra)])
    assert check.exit_code == 0, check.output
    new = runner.invoke(
        app,
        [
            "new",
            "exports",
            "first-try",
            "d",
            "--train",
            str(train),
            "--val",
            str(val),
            *TINY,
            *extra,
        ],
    )
    assert new.exit_code == 0, new.output
    root = Path(new.stdout.strip().splitlines()[-1])
    trained = runner.invoke(app, ["train", str(root), "--quiet"])
    assert trained.exit_code == 0, trained.output
    tested = runner.invoke(
        app, ["test", str(root), "--coco", str(test), "--condition", "held-out", "--json"]
    )
    assert tested.exit_code == 0, tested.output
    return {
        "check": check.output,
        "new": new.output,
        "root": root,
        "train": trained.output,
        "metrics": json.loads(tested.stdout)["metrics"],
        "report": (root / "testing" / "held-out" / "report.txt").read_text(),
    }


def _check(extra: tuple[str, ...]) -> list[str]:
    """The ``data check`` options matching ``new``'s ``--set dataset.unlabelled=...``."""
    return ["--unlabelled", "background"] if "dataset.unlabelled=background" in extra else []


def write_detection_export(
    root: Path,
    splits: dict[str, list[list[str]]],
    names: tuple[str, ...],
    project: str = "eggs",
) -> dict[str, Path]:
    """A Roboflow-shaped detection export where each image holds the boxes listed for it
    (``splits[split][i]`` is the class names boxed in image i; ``[]`` is an image with no box).

    With ``[["fertile"], ["fertile", "infertile"], ...]`` the class "infertile" only ever appears
    together with "fertile", as in a public egg-fertility export (all 8 "infertile" images also
    had "fertile" boxes).
    """
    categories = [{"id": 0, "name": project, "supercategory": "none"}] + [
        {"id": i + 1, "name": n, "supercategory": project} for i, n in enumerate(names)
    ]
    files = {}
    for split, boxed in splits.items():
        images, annotations = [], []
        for index, classes in enumerate(boxed):
            digest = hashlib.md5(f"{split}{index}".encode()).hexdigest()
            name = f"IMG_{index:04d}_jpg.rf.{digest}.jpg"
            label = names.index(classes[0]) if classes else None
            write_image(root / split / name, label, 1000 + index + 100 * len(files))
            images.append({"id": index, "file_name": name, "height": 32, "width": 32})
            for offset, cls in enumerate(classes):
                box = _box(len(annotations), index, names.index(cls) + 1)
                box["bbox"] = [2.0 + 4 * offset, 2.0, 10.0, 10.0]
                annotations.append(box)
        data = {
            "info": {"description": "Exported from roboflow.com", "year": "2024"},
            "licenses": [],
            "categories": categories,
            "images": images,
            "annotations": annotations,
        }
        path = root / split / "_annotations.coco.json"
        path.write_text(json.dumps(data))
        files[split] = path
    return files


def write_burst_export(root: Path, scenes: int, shots: int = 2, names=("cat", "dog")) -> Path:
    """A Label Studio-shaped export of burst photos: ``scenes`` scenes, each shot ``shots``
    times with a little sensor noise (near-duplicates a random split puts on both sides).
    Scenes alternate between the classes. Returns ``result.json``."""
    rng = np.random.default_rng(7)
    categories = [{"id": i, "name": n} for i, n in enumerate(names)]
    images, annotations = [], []
    for scene in range(scenes):
        blocks = rng.integers(0, 256, size=(8, 8, 3)).astype(np.float64)
        base = np.kron(blocks, np.ones((4, 4, 1)))
        for shot in range(shots):
            pixels = np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
            name = f"burst{scene:03d}-{shot}.png"
            (root / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / "images" / name)
            image_id = len(images)
            images.append(
                {"id": image_id, "file_name": f"images/{name}", "width": 32, "height": 32}
            )
            annotations.append(_box(image_id, image_id, scene % len(names)))
    path = root / "result.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path

"""The worst false positives and false negatives per class, as small JPEG thumbnails."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

THUMBNAIL_PX = 96
PER_KIND = 3


def thumbnail_uri(path: Path, size: int = THUMBNAIL_PX) -> str | None:
    """A JPEG thumbnail (longest side ``size``) as a ``data:`` URI; None when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=70)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _entry(prediction: dict[str, Any], name: str, base: Path) -> dict[str, Any]:
    path = Path(prediction.get("file") or "")
    if not path.is_absolute():
        path = base / path
    return {
        "file": str(path),
        "score": float(prediction["scores"].get(name, 0.0)),
        "true": ", ".join(prediction.get("true") or []) or "(none)",
        "predicted": ", ".join(prediction.get("predicted") or []) or "(none)",
        "uri": thumbnail_uri(path),
    }


def worst_mistakes(
    predictions: list[dict[str, Any]], class_names: list[str], base: Path, count: int = PER_KIND
) -> list[dict[str, Any]]:
    """Per class: the ``count`` false positives with the highest score for it, and the ``count``
    false negatives with the lowest."""
    found = []
    for name in class_names:
        positives = [p for p in predictions if name in (p.get("predicted") or [])]
        negatives = [p for p in predictions if name not in (p.get("predicted") or [])]
        false_positives = sorted(
            (p for p in positives if name not in (p.get("true") or [])),
            key=lambda p: -float(p["scores"].get(name, 0.0)),
        )[:count]
        false_negatives = sorted(
            (p for p in negatives if name in (p.get("true") or [])),
            key=lambda p: float(p["scores"].get(name, 0.0)),
        )[:count]
        found.append(
            {
                "class": name,
                "false_positives": [_entry(p, name, base) for p in false_positives],
                "false_negatives": [_entry(p, name, base) for p in false_negatives],
            }
        )
    return found

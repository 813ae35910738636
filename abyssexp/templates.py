"""Files shipped in ``templates/`` (package data in a wheel, the repository folder in a checkout)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template


def template_path(name: str) -> Path:
    """Find a template in the installed package, else in the source checkout's ``templates/``."""
    packaged = resources.files("abyssexp") / "templates" / name
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "templates" / name


def render_template(name: str, values: dict[str, object]) -> str:
    """Render with ``string.Template`` (``$name``): no code runs inside a template."""
    return Template(template_path(name).read_text()).safe_substitute(
        {key: str(value) for key, value in values.items()}
    )

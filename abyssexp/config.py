"""Where experiments live: the scratch and store roots, resolved in one place.

Precedence, highest first: the command-line option, the environment variable, the user config file
(``~/.config/abyssexp/config.toml``, section ``[roots]``), the team default on ``/mnt/pond``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from abyssexp.errors import InvalidInputError

DEFAULT_SCRATCH = Path("/mnt/pond/scratch")
DEFAULT_STORE = Path("/mnt/pond/models")
SCRATCH_ENV = "ABYSSEXP_SCRATCH"
STORE_ENV = "ABYSSEXP_STORE"
CONFIG_ENV = "ABYSSEXP_CONFIG"


@dataclass(frozen=True)
class ResolvedRoot:
    """A root folder and where its value came from (``option``, ``env``, ``config``, ``default``)."""

    path: Path
    source: str


@dataclass(frozen=True)
class Roots:
    scratch: ResolvedRoot
    store: ResolvedRoot
    config_file: Path


def config_file_path() -> Path:
    """The user config file: ``$ABYSSEXP_CONFIG``, else ``$XDG_CONFIG_HOME/abyssexp/config.toml``."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "abyssexp" / "config.toml"


def _read_config(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not valid TOML ({exc}); fix or remove the file") from None
    roots = data.get("roots", {})
    if not isinstance(roots, dict):
        raise InvalidInputError(
            f"{path}: [roots] must be a table with scratch = ... and store = ..."
        )
    unknown = set(roots) - {"scratch", "store"}
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown key(s) in [roots]: {', '.join(sorted(unknown))} (valid: scratch, store)"
        )
    return {key: str(value) for key, value in roots.items()}


def config_section(name: str) -> tuple[dict[str, object], Path]:
    """A table of the user config file other than ``[roots]`` (``[slurm]``), and the file;
    ``{}`` when the file or the table is absent.

    Raises:
        InvalidInputError: the file is not valid TOML, or ``[name]`` is not a table.
    """
    path = config_file_path()
    if not path.is_file():
        return {}, path
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: not valid TOML ({exc}); fix or remove the file") from None
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise InvalidInputError(f"{path}: [{name}] must be a table")
    return section, path


def resolve_roots(scratch: Path | str | None = None, store: Path | str | None = None) -> Roots:
    """Resolve both roots with the documented precedence."""
    config_path = config_file_path()
    config = _read_config(config_path)

    def pick(option: Path | str | None, env: str, key: str, default: Path) -> ResolvedRoot:
        if option:
            return ResolvedRoot(Path(option).expanduser().absolute(), "option")
        if os.environ.get(env):
            return ResolvedRoot(Path(os.environ[env]).expanduser().absolute(), f"env {env}")
        if key in config:
            return ResolvedRoot(Path(config[key]).expanduser().absolute(), f"config {config_path}")
        return ResolvedRoot(default, "default")

    return Roots(
        scratch=pick(scratch, SCRATCH_ENV, "scratch", DEFAULT_SCRATCH),
        store=pick(store, STORE_ENV, "store", DEFAULT_STORE),
        config_file=config_path,
    )

"""Where experiments live: the scratch and store roots, resolved in one place.

Precedence, highest first: the command-line option, the environment variable, the user config file
(``~/.config/abyssexp/config.toml``, section ``[roots]``), the team default on ``/mnt/pond``.

The store may also be an object-storage URL (``s3://bucket/prefix``): ``StoreURL``. Credentials and
the endpoint of an S3-compatible server come from the usual AWS variables and profiles
(``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``..., ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from abyssexp.errors import AbyssExpError, InvalidInputError
from abyssexp.owned import check_path, own_root

DEFAULT_SCRATCH = Path("/mnt/pond/scratch")
DEFAULT_STORE = Path("/mnt/pond/models")
SCRATCH_ENV = "ABYSSEXP_SCRATCH"
STORE_ENV = "ABYSSEXP_STORE"
CONFIG_ENV = "ABYSSEXP_CONFIG"
CACHE_ENV = "ABYSSEXP_CACHE"
#: Object stores abyssexp can promote to (URL scheme → the extra that installs its client).
OBJECT_STORE_SCHEMES = {"s3": "s3"}
_URL_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$")


@dataclass(frozen=True)
class StoreURL:
    """An object-storage store root (or an object prefix in it), e.g. ``s3://bucket/models``.

    ``bucket`` and ``prefix`` never hold empty, ``.`` or ``..`` parts; ``prefix`` has no slash at
    either end (``""`` for the bucket's root).
    """

    scheme: str
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")

    def child(self, relative: str) -> StoreURL:
        """The URL of ``relative`` (``/``-separated) under this one."""
        return StoreURL(self.scheme, self.bucket, "/".join(p for p in (self.prefix, relative) if p))

    def __str__(self) -> str:
        return self.url


def parse_store(text: str | Path, what: str = "store") -> Path | StoreURL:
    """A store root: a folder (``~`` expanded, made absolute) or an object-storage URL.

    Raises:
        InvalidInputError: a URL of a scheme abyssexp cannot store to, without a bucket, or with
            empty, ``.`` or ``..`` parts.
    """
    match = _URL_RE.match(str(text))
    if match is None:
        return Path(text).expanduser().absolute()
    scheme, rest = match["scheme"].lower(), match["rest"].rstrip("/")
    if scheme == "file":
        return Path(rest or "/").expanduser().absolute()
    if scheme not in OBJECT_STORE_SCHEMES:
        supported = ", ".join(f"{s}://BUCKET/PREFIX" for s in OBJECT_STORE_SCHEMES)
        raise InvalidInputError(
            f"{what} {str(text)!r}: abyssexp cannot store to {scheme}:// (use a folder or "
            f"{supported}). Received: {scheme}"
        )
    parts = rest.split("/")
    if not parts[0] or any(part in ("", ".", "..") for part in parts):
        raise InvalidInputError(
            f"{what} {str(text)!r}: expected {scheme}://BUCKET/PREFIX without empty, '.' or '..' "
            "parts, e.g. s3://team-models/abyss"
        )
    return StoreURL(scheme, parts[0], "/".join(parts[1:]))


def cache_root() -> Path:
    """Where models downloaded from an object store are kept: ``$ABYSSEXP_CACHE``, else
    ``$XDG_CACHE_HOME/abyssexp``, else ``~/.cache/abyssexp``."""
    if os.environ.get(CACHE_ENV):
        return own_root(Path(os.environ[CACHE_ENV]).expanduser().absolute())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return own_root(base / "abyssexp")


@dataclass(frozen=True)
class ResolvedRoot:
    """A root and where its value came from (``option``, ``env``, ``config``, ``default``).

    ``path`` is a folder, or (the store only) an object-storage ``StoreURL``.
    """

    path: Path | StoreURL
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
        def parse(value: Path | str, source: str) -> ResolvedRoot:
            if key == "store":
                return ResolvedRoot(parse_store(value, f"store ({source})"), source)
            return ResolvedRoot(Path(value).expanduser().absolute(), source)

        if option:
            return parse(option, "option")
        if os.environ.get(env):
            return parse(os.environ[env], f"env {env}")
        if key in config:
            return parse(config[key], f"config {config_path}")
        return ResolvedRoot(default, "default")

    roots = Roots(
        scratch=pick(scratch, SCRATCH_ENV, "scratch", DEFAULT_SCRATCH),
        store=pick(store, STORE_ENV, "store", DEFAULT_STORE),
        config_file=config_path,
    )
    for root in (roots.scratch.path, roots.store.path):
        if isinstance(root, Path):
            own_root(root)  # the link rule (owned.py) applies below it
    return roots


def check_outputs(paths: Iterable[Path]) -> None:
    """Refuse output paths a user gave (``--out``, ``--out-dir``) that lie below the configured
    scratch or store and go through a symlinked folder there, all of them before any is written
    (plan, then act). Paths outside the roots are the user's choice and pass.

    The data tools take no root option, so the configured roots are registered here, where
    they are resolved (a broken config file is left to the commands that need the roots).

    Raises:
        OutsideOwnedFolderError: a folder on the way to an output is a symlink below a root.
    """
    try:
        resolve_roots()
    except AbyssExpError:
        pass
    for path in paths:
        check_path(Path(path), verb="write")  # the link rule (owned.py)

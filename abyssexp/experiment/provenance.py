"""Where an experiment came from: git state (via gitpython), Python, packages, host, user."""

from __future__ import annotations

import getpass
import os
import platform
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abyssexp.processes import this_host

if TYPE_CHECKING:
    from abyssexp.experiment.layout import ExperimentPaths

TRACKED_PACKAGES = (
    "abyssexp",
    "tensorflow",
    "keras",
    "numpy",
    "pydantic",
    "pycocotools",
    "pillow",
    "typer",
    "rich",
    "imgaug",
)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def git_state(cwd: Path | None = None) -> tuple[dict[str, Any], str]:
    """The git state of the repository ``cwd`` is in, and its uncommitted diff.

    Returns ``({"repository": None, "note": "not a git repository"}, "")`` outside a repository.
    """
    try:
        import git  # gitpython; imported here because it is only needed when recording
    except ImportError:  # pragma: no cover - a declared dependency
        return {"repository": None, "note": "gitpython is not installed"}, ""
    try:
        repo = git.Repo(cwd or Path.cwd(), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {"repository": None, "note": "not a git repository"}, ""
    info: dict[str, Any] = {"repository": repo.working_tree_dir}
    try:
        info["commit"] = repo.head.commit.hexsha
    except ValueError:
        info["commit"] = None  # a repository with no commits yet
    try:
        info["branch"] = repo.active_branch.name
    except TypeError:
        info["branch"] = None  # detached HEAD
    try:
        info["dirty"] = repo.is_dirty(untracked_files=True)
        diff = repo.git.diff("HEAD") if info["commit"] else repo.git.diff()
    except git.GitCommandError as exc:
        info["dirty"] = None
        diff = ""
        info["note"] = f"git diff failed: {exc.stderr.strip() if exc.stderr else exc}"
    return info, diff


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def all_requirements() -> str:
    """``pip freeze``-style list of every installed distribution (for logs/requirements.txt)."""
    lines = sorted(
        {f"{dist.metadata['Name']}=={dist.version}" for dist in metadata.distributions()},
        key=str.lower,
    )
    return "\n".join(lines) + "\n"


def collect_provenance(command_line: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """Provenance of the current process; returns the record and the git diff text."""
    git_info, diff = git_state()
    return (
        {
            "git": git_info,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": package_versions(),
            "host": this_host(),
            "user": current_user(),
            "cwd": str(Path.cwd()),
            "command_line": command_line if command_line is not None else list(sys.argv),
        },
        diff,
    )


#: What a run's provenance files hold: the provenance, the git diff and requirements.txt.
Collected = tuple[dict[str, Any], str, str]


def collect_in_background(command_line: list[str]) -> Callable[[], Collected]:
    """Start collecting a run's provenance (git runs subprocesses, the requirements list reads
    every installed package's metadata) in a thread, while TensorFlow builds the model; the
    returned function waits for it and gives it, or raises what the collection raised."""
    import threading

    result: dict[str, Any] = {}

    def collect() -> None:
        try:
            result["value"] = (*collect_provenance(command_line), all_requirements())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=collect, name="abyssexp-provenance", daemon=True)
    thread.start()

    def wait() -> Collected:
        thread.join()
        if "error" in result:
            raise result["error"]
        value: Collected = result["value"]
        return value

    return wait


def write_train_provenance(
    paths: ExperimentPaths,
    command_line: list[str],
    collected: Collected | None = None,
    **facts: Any,
) -> None:
    """logs/provenance.json's ``train`` section (and one ``train_runs`` entry per run), git.diff
    and requirements.txt, for a training run; ``facts`` adds what only training knows.
    ``collected``: from ``collect_in_background`` (for this ``command_line``), else collected
    now."""
    import time

    from abyssexp.atomic import atomic_write_text
    from abyssexp.experiment.layout import REQUIREMENTS_FILE
    from abyssexp.experiment.summary_cache import refresh_summary
    from abyssexp.schemas.provenance import ProvenanceFile, load_provenance, write_provenance

    if collected is None:
        collected = (*collect_provenance(command_line), all_requirements())
    provenance, diff, requirements = collected
    provenance = dict(provenance)
    provenance.update(facts)
    existing = load_provenance(paths.provenance) or ProvenanceFile()
    existing["train"] = provenance
    existing.setdefault("train_runs", []).append(
        {"time": time.time(), "command_line": provenance["command_line"], "git": provenance["git"]}
    )
    write_provenance(paths.provenance, existing)
    refresh_summary(paths)  # what `compare` reads from the provenance
    atomic_write_text(paths.git_diff, diff)
    atomic_write_text(paths.logs / REQUIREMENTS_FILE, requirements)

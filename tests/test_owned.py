"""``abyssexp.owned``: deleting only inside the folder abyssexp owns, never through a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from abyssexp.errors import AbyssExpError
from abyssexp.owned import (
    OutsideOwnedFolderError,
    check_inside,
    make_writable_inside,
    rmtree_inside,
    unlink_inside,
)


@pytest.fixture
def owner(tmp_path: Path) -> Path:
    folder = tmp_path / "owner"
    (folder / "models").mkdir(parents=True)
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.keras").write_bytes(b"keep me")
    os.chmod(folder / "victim.keras", 0o444)
    return folder


def test_is_an_abyssexp_error() -> None:
    assert issubclass(OutsideOwnedFolderError, AbyssExpError)


def test_unlink_inside_removes_a_file_and_returns_its_size(owner: Path) -> None:
    target = owner / "models" / "model_1.keras"
    target.write_bytes(b"12345")
    assert unlink_inside(target, owner) == 5
    assert not target.exists()
    assert unlink_inside(target, owner) == 0  # already gone: nothing freed


def test_unlink_inside_removes_a_symlink_not_its_target(owner: Path, outside: Path) -> None:
    link = owner / "models" / "model_1.keras"
    link.symlink_to(outside / "victim.keras")
    assert unlink_inside(link, owner) == 0
    assert not os.path.lexists(link)
    assert (outside / "victim.keras").read_bytes() == b"keep me"


def test_a_symlinked_folder_on_the_way_is_refused(owner: Path, outside: Path) -> None:
    (owner / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutsideOwnedFolderError, match="is a symlink"):
        unlink_inside(owner / "linked" / "victim.keras", owner)
    with pytest.raises(OutsideOwnedFolderError, match="is a symlink"):
        check_inside(owner / "linked" / "victim.keras", owner, verb="move")
    assert (outside / "victim.keras").exists()


def test_paths_outside_the_owner_are_refused(owner: Path, outside: Path) -> None:
    with pytest.raises(OutsideOwnedFolderError, match="not inside"):
        unlink_inside(outside / "victim.keras", owner)
    with pytest.raises(OutsideOwnedFolderError):
        rmtree_inside(owner, owner)  # the owner itself is not inside itself
    assert (outside / "victim.keras").exists()


def test_dot_dot_through_a_symlink_is_refused(owner: Path, outside: Path) -> None:
    """``owner/link/../victim`` reads as ``owner/victim`` but the kernel walks through the link."""
    (outside / "deep").mkdir()
    (owner / "link").symlink_to(outside / "deep", target_is_directory=True)
    (owner / "victim.keras").write_bytes(b"inside")
    with pytest.raises(OutsideOwnedFolderError, match=r"'\.\.'"):
        unlink_inside(owner / "link" / ".." / "victim.keras", owner)
    assert (outside / "victim.keras").exists() and (owner / "victim.keras").exists()


def test_rmtree_inside_removes_a_read_only_tree_and_never_follows_links(
    owner: Path, outside: Path
) -> None:
    tree = owner / "promoted"
    (tree / "logs").mkdir(parents=True)
    (tree / "logs" / "history.csv").write_text("a")
    (tree / "logs" / "link.keras").symlink_to(outside / "victim.keras")
    (tree / "linked").symlink_to(outside, target_is_directory=True)
    for path in (tree / "logs" / "history.csv",):
        os.chmod(path, 0o444)
    for folder in (tree / "logs", tree):
        os.chmod(folder, 0o555)
    rmtree_inside(tree, owner)
    assert not tree.exists()
    assert (outside / "victim.keras").read_bytes() == b"keep me"
    assert stat.S_IMODE((outside / "victim.keras").stat().st_mode) == 0o444
    assert stat.S_IMODE(outside.stat().st_mode) != 0o777


def test_rmtree_inside_a_symlink_removes_the_link_only(owner: Path, outside: Path) -> None:
    link = owner / "models" / "tmp"
    link.symlink_to(outside, target_is_directory=True)
    rmtree_inside(link, owner)
    assert not os.path.lexists(link) and (outside / "victim.keras").exists()


def test_make_writable_inside_skips_symlinks(owner: Path, outside: Path) -> None:
    tree = owner / "tree"
    tree.mkdir()
    (tree / "link.keras").symlink_to(outside / "victim.keras")
    (tree / "linked").symlink_to(outside, target_is_directory=True)
    os.chmod(outside, 0o555)
    os.chmod(tree, 0o555)
    try:
        make_writable_inside(tree, owner)
        assert stat.S_IMODE(tree.stat().st_mode) & 0o700 == 0o700
        assert stat.S_IMODE((outside / "victim.keras").stat().st_mode) == 0o444
        assert stat.S_IMODE(outside.stat().st_mode) == 0o555
    finally:
        os.chmod(outside, 0o755)


def test_the_one_checker_checks_the_path_itself_when_final(owner: Path, outside: Path) -> None:
    link = owner / "models" / "linked"
    link.symlink_to(outside, target_is_directory=True)
    check_inside(link, owner)  # its folder (models/) is real: unlinking the link is fine
    with pytest.raises(OutsideOwnedFolderError, match="is a symlink"):
        check_inside(link, owner, verb="write", final=True)


def test_check_path_is_the_checker_with_the_registered_root(
    owner: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abyssexp import owned

    monkeypatch.setattr(owned, "_ROOTS", set())
    (owner / "models" / "linked").symlink_to(outside, target_is_directory=True)
    target = owner / "models" / "linked" / "file.json"
    owned.check_path(target)  # no root registered: the user's path, not checked
    owned.own_root(owner)
    with pytest.raises(OutsideOwnedFolderError, match="is a symlink"):
        owned.check_path(target)


def test_the_owner_of_a_path_is_its_deepest_registered_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lexical, on the absolute spelling; a root's own owner is the root above it. Found by
    walking up the path, whatever the number of roots (a test worker registers hundreds)."""
    from abyssexp import owned

    monkeypatch.setattr(owned, "_ROOTS", set())
    for number in range(2000):
        owned.own_root(tmp_path / "many" / str(number))
    outer, inner = owned.own_root(tmp_path / "a"), owned.own_root(tmp_path / "a" / "b")
    assert owned.root_of(inner / "c" / "d.json") == inner
    assert owned.root_of(outer / "c") == outer
    assert owned.root_of(inner) == outer
    assert owned.root_of(outer) is None and owned.root_of(tmp_path / "elsewhere") is None
    assert owned.root_of(inner / ".." / "c") == outer
    assert owned.root_of(tmp_path / "many" / "7" / "x") == tmp_path / "many" / "7"

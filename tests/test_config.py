from pathlib import Path

import pytest

from abyssexp.config import resolve_roots
from abyssexp.errors import InvalidInputError


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[roots]\nscratch = "/cfg/scratch"\nstore = "/cfg/store"\n')
    monkeypatch.setenv("ABYSSEXP_CONFIG", str(config))
    monkeypatch.delenv("ABYSSEXP_SCRATCH", raising=False)
    monkeypatch.delenv("ABYSSEXP_STORE", raising=False)
    roots = resolve_roots()
    assert roots.scratch.path == Path("/cfg/scratch") and roots.scratch.source.startswith("config")
    monkeypatch.setenv("ABYSSEXP_SCRATCH", "/env/scratch")
    assert resolve_roots().scratch.path == Path("/env/scratch")
    assert resolve_roots(scratch="/opt/s").scratch.source == "option"
    config.unlink()
    monkeypatch.delenv("ABYSSEXP_SCRATCH")
    assert resolve_roots().scratch.path == Path("/mnt/pond/scratch")
    assert resolve_roots().store.source == "default"


def test_bad_config_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[roots]\nscratch = \n")
    monkeypatch.setenv("ABYSSEXP_CONFIG", str(config))
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        resolve_roots()
    config.write_text('[roots]\nscrach = "/x"\n')
    with pytest.raises(InvalidInputError, match="unknown key"):
        resolve_roots()

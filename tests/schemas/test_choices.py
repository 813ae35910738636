"""A backbone or optimizer name is checked where params are validated, without TensorFlow
(issue 31 case 16: ``new --set model.backbone=bogus`` / ``training.optimizer=bogus`` and
``--space choice(...)`` were accepted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from abyssexp.errors import InvalidInputError
from abyssexp.schemas.choices import BACKBONE_NAMES, OPTIMIZER_NAMES
from abyssexp.schemas.resolve import validate_params


@pytest.mark.parametrize(
    ("section", "field", "value", "message"),
    [
        ("model", "backbone", "bogus", "unknown backbone 'bogus'; `abyssexp backbones` lists"),
        ("model", "backbone", "resnet5", "did you mean resnet50"),
        ("training", "optimizer", "bogus", "unknown optimizer 'bogus'; valid: adadelta"),
    ],
)
def test_unknown_names_are_refused(section, field, value, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        validate_params({section: {field: value}})


def test_spellings_keras_accepts_stay_valid() -> None:
    params = validate_params(
        {"model": {"backbone": "ResNet-50"}, "training": {"optimizer": "RMSprop"}}
    )
    assert params.model.backbone == "ResNet-50" and params.training.optimizer == "RMSprop"


def test_new_and_space_choice_refuse_without_tensorflow(tmp_path, shapes) -> None:
    train = str(shapes["train"])
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom abyssexp.cli import app\n"
        f"new = ['new', 'p', 't', 'd', '--train', {train!r}]\n"
        "r = CliRunner()\n"
        "for extra in (['--set', 'model.backbone=bogus'], ['--set', 'training.optimizer=bogus']):\n"
        "    print(r.invoke(app, new + extra).output, 'EXIT', r.invoke(app, new + extra).exit_code)\n"
        "assert r.invoke(app, new).exit_code == 0\n"
        "s = r.invoke(app, ['sweep', 'new', 'p', 't', 'd', '--from', 'p/t/1', '--search', "
        "'optuna', '--trials', '3', '--space', 'model.backbone=choice(mobilenet,bogus)'])\n"
        "print(s.output, 'EXIT', s.exit_code)\n"
        "print('TF', 'tensorflow' in sys.modules or 'keras' in sys.modules)\n"
    )
    env = {"ABYSSEXP_SCRATCH": str(tmp_path / "s"), "ABYSSEXP_CONFIG": str(tmp_path / "no")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        env={**__import__("os").environ, **env},
        check=True,
    )
    out = done.stdout
    assert out.count("EXIT 2") == 3 and "TF False" in out, out + done.stderr
    assert "unknown backbone 'bogus'" in out and "unknown optimizer 'bogus'" in out


def test_registries_match_the_names() -> None:
    from abyssexp.models.backbones import BACKBONES
    from abyssexp.models.compile_options import optimizer_classes

    assert set(BACKBONES) == BACKBONE_NAMES
    assert set(optimizer_classes()) == OPTIMIZER_NAMES  # the installed Keras's optimizers

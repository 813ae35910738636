"""A section given a plain value says which fields to set (issue 30: ``--set
augmentation.cutmix=true`` was refused without naming ``augmentation.cutmix.alpha``)."""

from __future__ import annotations

import pytest

from abyssexp.errors import InvalidInputError
from abyssexp.schemas.resolve import validate_params


def test_section_set_to_true_names_its_fields() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_params({"augmentation": {"cutmix": True}})
    message = str(caught.value)
    assert message.startswith("augmentation.cutmix: a section, not a value")
    assert "--set augmentation.cutmix.alpha=1.0" in message
    assert "--set 'augmentation.cutmix={}'" in message and "(got True)" in message


def test_the_defaults_it_suggests_validate() -> None:
    params = validate_params({"augmentation": {"cutmix": {}}})
    assert params.augmentation.cutmix is not None and params.augmentation.cutmix.alpha == 1.0

import pytest

from abyssexp.errors import InvalidInputError
from abyssexp.schemas.params import Params
from abyssexp.schemas.resolve import apply_overrides, parse_set_options, resolve_params


def test_defaults_match_the_seed() -> None:
    params = Params()
    assert params.model.backbone == "xception"
    assert params.training.optimizer == "adam"
    assert params.schema_version == 1


def test_every_field_has_a_description() -> None:
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation)

    walk(Params)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("model.input_shape=[96,96,3]", ("model.input_shape", [96, 96, 3])),
        ("model.backbone=xception", ("model.backbone", "xception")),
        (
            "training.optimizer_args={'momentum': 0.9}",
            ("training.optimizer_args", {"momentum": 0.9}),
        ),
        ("augmentation.gnoise=(0,0.05*255)", ("augmentation.gnoise", (0, 12.75))),
        ("dataset.image_dir=/data/x=1", ("dataset.image_dir", "/data/x=1")),
    ],
)
def test_set_values_parse(item, expected) -> None:
    assert parse_set_options([item]) == [expected]


@pytest.mark.parametrize(
    ("items", "lines"),
    [
        (["training.lr=-1"], ["training.lr: Input should be greater than 0 (got -1)"]),
        (
            ["training.epochs=0"],
            ["training.epochs: Input should be greater than or equal to 1 (got 0)"],
        ),
        (["model.dropout=1"], ["model.dropout: Input should be less than 1 (got 1)"]),
        (
            ["model.input_shape=[96,96,1]"],
            ["model.input_shape: input_shape must have 3 channels (RGB), got 1 (got [96, 96, 1])"],
        ),
        (
            ["training.lr=-1", "training.batch_size=0"],
            [
                "training.batch_size: Input should be greater than or equal to 1 (got 0)",
                "training.lr: Input should be greater than 0 (got -1)",
            ],
        ),
    ],
)
def test_invalid_values_one_line_each(items, lines) -> None:
    with pytest.raises(InvalidInputError) as info:
        resolve_params({}, parse_set_options(items))
    assert sorted(info.value.problems) == sorted(lines)


def test_unknown_key_lists_valid_fields() -> None:
    with pytest.raises(InvalidInputError, match="training has no field 'lrr'.*lr"):
        apply_overrides({}, parse_set_options(["training.lrr=1"]))
    with pytest.raises(InvalidInputError, match="params has no field 'trainin'"):
        apply_overrides({}, parse_set_options(["trainin.lr=1"]))


def test_missing_equals_sign() -> None:
    with pytest.raises(InvalidInputError, match="expected section.field=VALUE"):
        parse_set_options(["training.lr"])


def test_unknown_field_in_file_is_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        resolve_params({"training": {"learning_rate": 1}})
    assert "training.learning_rate: unknown field" in info.value.problems[0]


def test_augmentation_ranges_validated() -> None:
    with pytest.raises(InvalidInputError, match="augmentation.rotate"):
        resolve_params({}, parse_set_options(["augmentation.rotate=(30,-30)"]))
    with pytest.raises(InvalidInputError, match="augmentation.foo"):
        resolve_params({"augmentation": {"foo": 1}})

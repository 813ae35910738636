import pytest

from abyssexp.errors import InvalidInputError
from abyssexp.experiment.naming import format_number, parse_name, validate_part


@pytest.mark.parametrize("value", ["pjm-swc", "lr5e-4", "xception", "a_b", "v2+aug", "001", "A"])
def test_valid_parts(value: str) -> None:
    assert validate_part(value, "info") == value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("a/b", "path separator"),
        ("..", "'..'"),
        ("a..b", "'..'"),
        ("lr5.0", "contains '.'"),
        ("my run", "space"),
        ("", "empty"),
        ("-lr", "starts with '-'"),
        ("a*b", "'*'"),
        ("é", "contains"),
        ("x" * 65, "longer than"),
    ],
)
def test_invalid_parts_say_why(value: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_part(value, "info 1")
    assert fragment in str(info.value)
    assert str(info.value).startswith("info 1:")


def test_numbers_pad_to_three_and_keep_counting() -> None:
    assert format_number(7) == "007"
    assert format_number(999) == "999"
    assert format_number(1000) == "1000"


def test_parse_name() -> None:
    parsed = parse_name("012.pjm-swc.lr5e-4")
    assert parsed is not None
    assert parsed.number == 12
    assert parsed.parts == ("pjm-swc", "lr5e-4")
    assert parse_name("notes") is None
    assert parse_name("12.x") is None

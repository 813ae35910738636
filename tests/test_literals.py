import pytest

from abyssexp.errors import InvalidInputError
from abyssexp.literals import parse_literal

SEED_EXAMPLE = (
    '{"some_of":None, "flip_lr":True, "flip_ud":True, "gblur":None, "avgblur":None,'
    '"gnoise":(0,0.05*255),"scale":(0.8, 1.2), "rotate":(-22.5, 22.5), "bright":(0.75,1.25),'
    '"colour_shift":(0.9,1.1)}'
)


def test_seed_example_verbatim() -> None:
    value = parse_literal(SEED_EXAMPLE)
    assert value["gnoise"] == (0, 12.75)
    assert value["some_of"] is None and value["flip_lr"] is True
    assert value["rotate"] == (-22.5, 22.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"momentum": 0.9}', {"momentum": 0.9}),
        ("{'momentum': 0.9, 'nesterov': True}", {"momentum": 0.9, "nesterov": True}),
        ("[1, 2**3, -4 // 3, 7 % 4]", [1, 8, -2, 3]),
        ("null", None),
        ("{'a': true}", {"a": True}),
    ],
)
def test_literals_and_arithmetic(text, expected) -> None:
    assert parse_literal(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os').system('true')", "function calls"),
        ("os.system", "attribute access"),
        ("x", "names are not allowed"),
        ("[1][0]", "indexing"),
        ("lambda: 1", "lambdas"),
        ("'a' * 3", "numbers only"),
        ("9**9**9", "too large"),
        ("1/0", "division by zero"),
        ("{'a': ", "not valid JSON or Python-literal syntax"),
    ],
)
def test_refused(text, fragment) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_literal(text, what="--optimizer-args")
    assert fragment in str(info.value)
    assert str(info.value).startswith("--optimizer-args:")

import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abyssexp.errors import AbyssExpError, InvalidInputError
from abyssexp.literals import LiteralLimitError, parse_literal, parse_set_value

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


@pytest.mark.parametrize(
    "text",
    [
        "((9**999)**999)**999",
        "(9**999)*(9**999)",
        "2**4097",
        "-" * 100_000 + "1",
        "-" * 60 + "1",
        "[" * 100_000,
        "[" * 60 + "]" * 60,
        "(" * 250 + "1" + ")" * 250,
        "1e999",
        "NaN",
        '{"a": Infinity}',
        "10.0**300*10.0**300",
        "x" * 100_001,
    ],
)
def test_every_expression_costs_bounded_time(text) -> None:
    # Trust #13: ((9**999)**999)**999 hung: every intermediate result is bounded now.
    started = time.perf_counter()
    with pytest.raises(LiteralLimitError) as info:
        parse_literal(text, what="--optimizer-args")
    assert time.perf_counter() - started < 1.0
    message = str(info.value)
    assert message.startswith("--optimizer-args:") and len(message) < 200 and "\n" not in message


def test_optimizer_args_nested_exponent_in_a_subprocess() -> None:
    # The same defect through the --optimizer-args spelling; a regression times out, never hangs.
    code = (
        "from abyssexp.literals import parse_literal, LiteralLimitError\n"
        "try:\n"
        "    parse_literal('{\"momentum\": ((9**999)**999)**999}', what='--optimizer-args')\n"
        "except LiteralLimitError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.startswith("--optimizer-args: a number larger than 2**4096"), result


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(-8)**0.5", "complex number"),
        ("{[1]: 2}", "dict keys must be"),
        ("{(1, [2]): 3}", "dict keys must be"),
    ],
)
def test_refused_without_a_python_error(text, fragment) -> None:
    with pytest.raises(InvalidInputError, match=fragment.replace("(", r"\(")):
        parse_literal(text)


def test_set_value_keeps_plain_text_but_refuses_costly_literals() -> None:
    assert parse_set_value("xception") == "xception"
    assert parse_set_value("data/train.json") == "data/train.json"
    assert parse_set_value("efficientnet-b0") == "efficientnet-b0"
    with pytest.raises(LiteralLimitError, match="--set training.lr: inf is not a finite number"):
        parse_set_value("1e999", what="--set training.lr")


# Property-based: whatever the text, the parser answers with a value or its own error, quickly.
_ATOMS = st.sampled_from(
    [
        "0",
        "1",
        "-1",
        "2",
        "9",
        "999",
        "1000",
        "0.5",
        "1e308",
        "1e999",
        "-0.0",
        "None",
        "True",
        "'a'",
        '"b"',
        "x",
        "NaN",
        "Infinity",
        "null",
        "j",
        "1j",
    ]
)
_OPERATORS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", ",", ":", " "])


def _expressions() -> st.SearchStrategy[str]:
    def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(children, _OPERATORS, children).map("".join),
            children.map(lambda e: f"({e})"),
            children.map(lambda e: f"[{e}]"),
            children.map(lambda e: f"{{{e}}}"),
            children.map(lambda e: f"-{e}"),
        )

    return st.recursive(_ATOMS, combine, max_leaves=12)


def _is_plain_data(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif not (item is None or isinstance(item, bool | int | float | str)):
            return False
    return True


_FAST = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(_expressions())
def test_property_expressions_give_data_or_our_error(text: str) -> None:
    try:
        value = parse_literal(text)
    except AbyssExpError:
        return
    assert _is_plain_data(value)


@_FAST
@given(st.text(max_size=200))
def test_property_any_text_gives_data_or_our_error(text: str) -> None:
    try:
        value = parse_set_value(text)
    except AbyssExpError:
        return
    assert _is_plain_data(value)

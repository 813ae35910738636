"""Property-based: the parsers issue 22 added or bounded (sweep spaces, ``--group-by``, alias
names, sweep trial names) give a value or one of abyssexp's one-line errors, quickly, whatever
the text."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from abyssexp.errors import AbyssExpError

_SETTINGS = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
_KEYS = st.sampled_from(["training.lr", "training.batch_size", "model.input_shape", "", "a=b"])
_SPACE_VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["loguniform(1e-4,1e-2)", "randint(1,10**1000)", "uniform(1,1)", "choice()", "choice(,)",
         "randint(1.5,2)", "uniform(nan,1)", "loguniform(0,1)", "1,2,3", ",", "9**9**9", "(" * 500]
    ),
)  # fmt: skip


def _one_line(exc: AbyssExpError) -> None:
    assert all(
        "\n" not in line and len(line) < 600 for line in getattr(exc, "problems", [str(exc)])
    )


@_SETTINGS
@given(st.lists(st.tuples(_KEYS, _SPACE_VALUES), max_size=3))
def test_property_sweep_spaces_give_a_space_or_our_error(items) -> None:
    from abyssexp.sweeps.trials import parse_grid, parse_random

    texts = [f"{key}={value}" for key, value in items]
    for parse in (parse_grid, parse_random):
        try:
            parse(texts)
        except AbyssExpError as exc:
            _one_line(exc)


def test_a_bound_no_float_holds_is_our_error() -> None:
    # Found by the property above in a full run: 10**1000 raised OverflowError in isfinite.
    import pytest

    from abyssexp.sweeps.trials import parse_random

    for text in ("training.lr=randint(0,10**1000)", "training.lr=uniform(-10**400,1)"):
        with pytest.raises(AbyssExpError) as raised:
            parse_random([text])
        _one_line(raised.value)


_REGEX_PIECES = st.sampled_from(["a", "(a+)+", "(a|a)*", "^", "$", ".*", "(", ")", "\\1", "[", "?"])


@_SETTINGS
@given(st.one_of(st.text(max_size=40), st.lists(_REGEX_PIECES, max_size=12).map("".join)))
@example(")\n")  # RE2 quoted the pattern, newline and all, into a two-line message
def test_property_group_by_compiles_or_refuses_and_matches_in_linear_time(pattern) -> None:
    from abyssexp.userregex import compile_user_regex

    try:
        compiled = compile_user_regex(pattern, "--group-by", "--group-by '^([^_]+)_'")
    except AbyssExpError as exc:
        _one_line(exc)
        return
    started = time.perf_counter()
    compiled.search("a" * 5000 + "!")
    assert time.perf_counter() - started < 0.5


@_SETTINGS
@given(st.text(max_size=80))
def test_property_alias_names_give_a_name_or_our_error(text) -> None:
    from abyssexp.experiment.naming import validate_part

    try:
        name = validate_part(text, "alias")
    except AbyssExpError as exc:
        _one_line(exc)
        return
    assert "/" not in name and ".." not in name and name.strip() == name


@_SETTINGS
@given(st.text(max_size=80))
def test_property_trial_names_never_leave_the_type_folder(text) -> None:
    from pydantic import ValidationError

    from abyssexp.schemas.sweep import Trial

    try:
        trial = Trial(index=0, name=text, number=1)
    except ValidationError:
        return
    assert "/" not in trial.name and "\\" not in trial.name and ".." not in trial.name
    assert not trial.name.startswith(".")

"""Property-based: any ``--set`` items give validated params or one of abyssexp's errors, quickly."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abyssexp.errors import AbyssExpError
from abyssexp.schemas.params import Params
from abyssexp.schemas.resolve import parse_set_options, resolve_params

_KEYS = st.sampled_from(
    ["training.lr", "training.metrics", "training.monitor", "training.optimizer_args",
     "training.class_weights", "model.input_shape", "dataset.category_map", "augmentation.rotate",
     "training", "nope.x", "training.lr.x", ""]
)  # fmt: skip
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["1e999", "NaN", "-1", "0.1", "((9**999)**999)**999", '["accuracy"]', '["nope"]', "val_auc",
         '{"momentum": 1e999}', "[96,96,3]", '{"1": 0, "2": 5}', "(0, 1e308*10)", "[" * 2000]
    ),
)  # fmt: skip
_ITEMS = st.lists(st.tuples(_KEYS, st.sampled_from(["=", "", "=="]), _VALUES), max_size=4)


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(_ITEMS)
def test_property_set_items_give_params_or_our_error(items) -> None:
    texts = [f"{key}{sep}{value}" for key, sep, value in items]
    try:
        params = resolve_params({}, parse_set_options(texts))
    except AbyssExpError as exc:
        assert all(len(line) < 400 and "\n" not in line for line in exc.problems)
        return
    assert isinstance(params, Params)

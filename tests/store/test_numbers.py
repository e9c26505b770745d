"""Integers outside 64 bits, for every JSON value (hypothesis): the faces' cheap check never
misses one orjson read rounded, and ``loads_exact`` keeps every number either exactly or, past
64 bits, as its digits."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sidecar.store.numbers import INT_HIGH, INT_LOW, loads_exact, rounded_integers, wide_integer

integers = st.one_of(
    st.integers(min_value=INT_LOW, max_value=INT_HIGH),
    st.integers(min_value=INT_HIGH + 1, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=INT_LOW - 1),
    st.sampled_from([INT_LOW, INT_HIGH, INT_LOW - 1, INT_HIGH + 1, 2**63, 2**63 - 1]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet="0123456789 ab-e+.", max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _wide(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not INT_LOW <= value <= INT_HIGH
    if isinstance(value, dict):
        return any(_wide(item) for item in value.values())
    if isinstance(value, list):
        return any(_wide(item) for item in value)
    return False


def _digits_for_wide(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if INT_LOW <= value <= INT_HIGH else str(value)
    if isinstance(value, dict):
        return {key: _digits_for_wide(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_digits_for_wide(item) for item in value]
    return value


@given(values)
def test_a_wide_integer_is_always_found_and_only_then(value: Any) -> None:
    text = json.dumps(value)
    if _wide(value):
        assert rounded_integers(orjson.loads(text))  # the cheap check lets none through
        assert wide_integer(text) is not None
        assert wide_integer(text.encode()) is not None
    else:
        assert wide_integer(text) is None


@given(values)
def test_loads_exact_keeps_every_number_or_its_digits(value: Any) -> None:
    text = json.dumps(value)
    assert loads_exact(text) == _digits_for_wide(value)
    assert loads_exact(text.encode()) == _digits_for_wide(value)

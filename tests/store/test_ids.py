from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.store.errors import ValidationFailed
from sidecar.store.ids import check_id, encode_ulid, id_from_path_name, new_id, path_name

#: Crockford's base32 as ids spell it, written out here as the tests' own reference.
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"

ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
    min_size=1,
    max_size=128,
)


@pytest.mark.parametrize(
    "bad", ["", "a/b", "..", "a b", "é", "x" * 129, None, 5, "a\x00", "../etc", "a.b"]
)
def test_check_id_refuses_what_could_reach_a_path(bad: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_id(bad, "conversation_id")
    assert caught.value.field == "conversation_id"


@given(ids)
def test_path_names_round_trip_and_stay_lowercase(value: str) -> None:
    name = path_name(value)
    assert name == name.lower()
    assert len(name) <= 255
    assert id_from_path_name(name) == value


@given(ids, ids)
def test_ids_differing_only_in_case_get_different_folders(a: str, b: str) -> None:
    if a != b:
        assert path_name(a).casefold() != path_name(b).casefold()


def test_case_variants_are_distinct_folders() -> None:
    names = {path_name(v) for v in ("abc", "Abc", "aBc", "ABC")}
    assert len(names) == 4


def test_folder_names_we_did_not_make_are_refused() -> None:
    for name in ("abc~zz", "ABC", "abc~0", "a~1x"):
        with pytest.raises(ValidationFailed):
            id_from_path_name(name)


def test_new_ids_are_valid_unique_and_sorted() -> None:
    made = [new_id() for _ in range(5000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    for value in made[:10]:
        check_id(value)


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_ids_encode_each_five_bits_as_one_crockford_character(value: int) -> None:
    expected = "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
    assert encode_ulid(value) == expected


def test_a_new_id_starts_with_its_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    milliseconds = 0
    for char in made[:10]:
        milliseconds = milliseconds * 32 + CROCKFORD.index(char)
    assert before <= milliseconds <= after

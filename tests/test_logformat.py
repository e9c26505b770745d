"""The stderr log's formatter makes the same lines as ``logging.Formatter``, for every time."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from sidecar.logformat import LOG_FORMAT, SecondCachedFormatter

# Seconds since the epoch up to 2100, in any order (the cache must follow jumps back too).
TIMES = st.lists(st.floats(min_value=0, max_value=4.1e9, allow_nan=False), min_size=1, max_size=20)


def record_at(created: float) -> logging.LogRecord:
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, "%s %d", ("x", 1), None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord computes it
    return record


@given(TIMES)
def test_lines_are_those_of_the_standard_formatter(times: list[float]) -> None:
    cached, standard = SecondCachedFormatter(), logging.Formatter(LOG_FORMAT)
    for created in times:
        for same_second in (created, int(created) + 0.999):
            record = record_at(same_second)
            assert cached.format(record) == standard.format(record)


def test_an_explicit_date_format_is_honoured() -> None:
    record = record_at(1_700_000_000.25)
    assert SecondCachedFormatter().formatTime(record, "%Y") == "2023"

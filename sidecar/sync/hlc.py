"""The clock of sync: a hybrid logical clock per device (docs/sync.md).

A stamp is ``"<physical ms, 13 digits>.<counter, 6 digits>.<device id>"``, so stamps compare as
strings: later physical time first, then the counter, then the device id (the tie-break every
device agrees on). :meth:`HybridClock.now` never goes backwards, even if the wall clock does, and
:meth:`HybridClock.observe` moves past every stamp seen from another device, so a change made
after seeing another is always stamped later than it (causality is respected whatever the clocks
of the machines say).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def make_stamp(physical_ms: int, counter: int, device_id: str) -> str:
    return f"{physical_ms:013d}.{counter:06d}.{device_id}"


def parse_stamp(stamp: str) -> tuple[int, int]:
    physical, counter, _ = stamp.split(".", 2)
    return int(physical), int(counter)


class HybridClock:
    """One device's clock; ``last`` is persisted by the sync state so restarts never go back."""

    def __init__(
        self,
        device_id: str,
        last: str | None = None,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.device_id = device_id
        self._wall_ms = wall_ms
        self._physical, self._counter = parse_stamp(last) if last else (0, 0)

    @property
    def last(self) -> str:
        return make_stamp(self._physical, self._counter, self.device_id)

    def now(self) -> str:
        wall = self._wall_ms()
        if wall > self._physical:
            self._physical, self._counter = wall, 0
        else:
            self._counter += 1
        return self.last

    def observe(self, stamp: str) -> None:
        physical, counter = parse_stamp(stamp)
        if (physical, counter) > (self._physical, self._counter):
            self._physical, self._counter = physical, counter

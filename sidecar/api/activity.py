"""What keeps the sidecar from idling out (``--idle-timeout``): requests in flight and the last one.

Here, below the faces, because the HTTP middleware counts requests, the server's idle watch reads
the count, and the app keeps it under a key of the neutral key module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Activity:
    """Requests in flight (an open stream is one) and when the last one was seen."""

    requests: int = 0
    last_seen: float = field(default_factory=time.monotonic)

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def idle_for(self) -> float:
        if self.requests:
            return 0.0
        return time.monotonic() - self.last_seen

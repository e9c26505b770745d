"""The format of the sidecar's stderr log, with each second's time text made once.

``logging.Formatter.formatTime`` runs ``localtime`` and ``strftime`` for every record; the access
log writes one record per request, so at hundreds of requests a second that is the same text
made hundreds of times (issue #18's profile). :class:`SecondCachedFormatter` keeps the text of
the last second seen and adds the milliseconds, so every line reads exactly as before.
"""

from __future__ import annotations

import logging
import time

#: Every stderr line: time with milliseconds, level, logger, message.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SecondCachedFormatter(logging.Formatter):
    """``logging.Formatter`` that formats the date and time of each second once."""

    def __init__(self, fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt)
        # One tuple, replaced whole: a record formatted on another thread sees a matching pair.
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached_second, text = self._second
        if second != cached_second:
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"  # logging's default_msec_format

"""RFC 3339 UTC timestamps with milliseconds, the only time format on the wire and on disk."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    """The current time as ``2026-11-21T13:45:00.123Z``."""
    return format_iso(datetime.now(UTC))


def format_iso(moment: datetime) -> str:
    """Format an aware datetime (naive means UTC) with milliseconds and a ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)
    # isoformat is C and pads the year to four digits (strftime's %Y gives "999" for 999)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"

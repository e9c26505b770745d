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
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

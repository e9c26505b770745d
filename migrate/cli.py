"""``chat-migrate``: the migration toolkit's command line (built by the migration issue)."""

from __future__ import annotations

import sys


def main() -> None:
    print("chat-migrate: not built yet (the migration issue adds it)", file=sys.stderr)
    sys.exit(2)

"""``python -m sidecar`` is ``chat-sidecar`` (the extension starts it this way)."""

from .entry import main

main()

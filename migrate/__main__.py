"""``python -m migrate`` is ``chat-migrate``."""

from .cli import main

main()

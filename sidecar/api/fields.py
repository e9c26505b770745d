"""The named fields each operation's request may carry, shared by both faces."""

from __future__ import annotations

from typing import Final

CREATE_FIELDS: Final = frozenset({"id", "title", "workspace", "tags", "metadata"})
UPDATE_FIELDS: Final = frozenset({"title", "starred", "pinned", "archived", "tags", "metadata"})
#: The largest page of ``GET /api/v1/conversations`` (and of ``conversations.list`` over JSON-RPC).
LIST_LIMIT_MAX: Final = 500
APPEND_FIELDS: Final = frozenset({"role", "content", "client_message_id", "parent_id", "metadata"})
PATCH_FIELDS: Final = frozenset({"content", "metadata"})
BRANCH_FIELDS: Final = frozenset({"from_message_id", "name"})
SEND_FIELDS: Final = frozenset({"content", "client_message_id", "parent_id", "branch"})
APPROVE_FIELDS: Final = frozenset({"turn_id", "decisions"})
TURN_FIELDS: Final = frozenset({"turn_id"})
EXPORT_FORMATS: Final = ("json", "markdown")

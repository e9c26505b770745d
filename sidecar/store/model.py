"""The stored objects of CONTRACT §4 and the rules their fields obey.

Documents are plain dicts (they go to disk and the wire as JSON unchanged). A stored document is
never mutated in place: every change replaces it with a new dict. That lets a checkpoint take a
consistent snapshot with shallow copies, on the event loop, and serialise it on another thread.
"""

from __future__ import annotations

from typing import Any, Final

from .errors import ValidationFailed
from .ids import check_id

ROLES: Final = ("user", "assistant", "system", "tool")
MESSAGE_STATUSES: Final = ("complete", "streaming", "interrupted", "failed", "cancelled")
TURN_STATES: Final = (
    "streaming",
    "awaiting_tool_approval",
    "executing_tools",
    "transient_failure",
    "permanent_failure",
    "completed",
    "cancelled",
    "interrupted",
)
#: A turn in one of these states has not finished: no second turn in its conversation until then.
UNFINISHED_TURN_STATES: Final = (
    "streaming",
    "awaiting_tool_approval",
    "executing_tools",
    "transient_failure",
)
CONVERSATION_STATES: Final = ("idle", *TURN_STATES)
DEFAULT_BRANCH: Final = "main"
TITLE_MAX = 500
PREVIEW_CHARS = 140
TAGS_MAX = 64

Doc = dict[str, Any]

#: Conversation fields the store keeps; ``message_count`` and ``last_message_preview`` are derived.
CONVERSATION_FIELDS: Final = (
    "id",
    "title",
    "created_at",
    "updated_at",
    "starred",
    "pinned",
    "archived",
    "deleted_at",
    "workspace",
    "tags",
    "metadata",
    "active_branch",
    "revision",
    "state",
    "source",
)

MESSAGE_FIELDS: Final = (
    "id",
    "conversation_id",
    "parent_id",
    "role",
    "content",
    "status",
    "created_at",
    "updated_at",
    "client_message_id",
    "turn_id",
    "tool_calls",
    "tool_call_id",
    "metadata",
    "source",
)


def public_message(doc: Doc) -> Doc:
    """A stored message as CONTRACT §4 shows it (internal fields dropped)."""
    return {name: doc.get(name) for name in MESSAGE_FIELDS}


def check_title(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > TITLE_MAX:
        raise ValidationFailed("title", f"title must be a string of at most {TITLE_MAX} characters")
    return value


def check_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(field, f"{field} must be true or false")
    return value


def check_tags(value: object) -> list[str]:
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > TAGS_MAX
        or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in value)
    ):
        raise ValidationFailed("tags", f"tags must be a list of at most {TAGS_MAX} short strings")
    return list(dict.fromkeys(value))


def check_metadata(value: object, field: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(field, f"{field} must be a JSON object")
    return dict(value)


def check_optional_str(value: object, field: str, limit: int = 1000) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(field, f"{field} must be a string of at most {limit} characters")
    return value


def check_role(value: object) -> str:
    if value not in ROLES:
        raise ValidationFailed("role", f"role must be one of {', '.join(ROLES)}")
    return str(value)


def check_content(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationFailed("content", "content must be a string")
    return value


def check_status(value: object) -> str:
    if value not in MESSAGE_STATUSES:
        raise ValidationFailed("status", f"status must be one of {', '.join(MESSAGE_STATUSES)}")
    return str(value)


def check_branch_name(value: object, field: str = "branch") -> str:
    return check_id(value, field)


def check_source(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        raise ValidationFailed("source", "source must be null or an object with a 'kind'")
    return dict(value)


def check_tool_calls(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("name"), str)
        for c in value
    ):
        raise ValidationFailed("tool_calls", "tool_calls must be a list of {id, name, ...} objects")
    return [dict(c) for c in value]


def preview_of(content: str) -> str:
    """The list view's one-line preview of a message: its words, one space apart, cut at
    ``PREVIEW_CHARS``.

    It is rebuilt on every append, so it reads only as much of the content as it needs: a
    prefix whose words already fill the preview gives the same first characters as the whole
    (only a word cut at the prefix's end differs, and it lies past the cut); a prefix mostly
    of blanks falls back to the whole content.
    """
    head = content[: 2 * PREVIEW_CHARS]
    flat = " ".join(head.split())
    if len(flat) <= PREVIEW_CHARS and len(head) < len(content):
        flat = " ".join(content.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"

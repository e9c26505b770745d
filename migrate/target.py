"""Where ``chat-migrate`` writes: one small interface, two ways (CONTRACT §8).

When a sidecar owns the data dir (its lock is held), everything goes through its REST API so
webviews see the change live (:class:`ApiTarget`); when none does, the command takes the lock
itself and calls the sidecar's importer on the store directly (``DirectTarget``, which lives
beside that importer in :mod:`sidecar.service.direct_target`). Both paths run the same importer,
so they give the same store. :mod:`migrate.connect` picks one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout

from .document import export_document
from .parts import combined, conversation_parts

TOKEN_ENV = "CHAT_SIDECAR_TOKEN"
API_BODY_BUDGET = 3 * 1024 * 1024
#: The smallest body budget a 413 can shrink the budget to; a message bigger than this that the
#: sidecar still refuses is reported (raise its ``--max-body-bytes``, or import directly).
MIN_BODY_BUDGET = 64 * 1024
API_PAGE = 500
DIRECT_BATCH_MESSAGES = 2_000

Doc = dict[str, Any]


class TargetError(Exception):
    """The store or the sidecar cannot do something: a one-line reason, exit 2."""


class Refused(TargetError):
    """The importer refused a document (validation, conflict, too large): the request changed
    nothing, and the other conversations can still be imported one by one."""


class TooLarge(Refused):
    """The sidecar refused a body of ``size`` bytes as too large (413): smaller ones may pass."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class Target(Protocol):
    """The store as ``chat-migrate`` sees it."""

    kind: str
    data_dir: Path | None
    #: How many import batches may be in flight at once (the store's group commit shares one
    #: fsync among concurrent writes, so this is what makes a big import fast).
    concurrency: int

    async def summaries(self) -> list[Doc]:
        """Every conversation's summary: archived and trashed ones too."""
        ...

    async def export(self, conversation_id: str) -> Doc | None:
        """One conversation in the export format (all branches), ``None`` if there is none."""
        ...

    async def import_conversations(self, conversations: list[Doc], run_id: str | None) -> Doc:
        """Import export-format conversations; ``{created, merged, unchanged}`` (lists of ids)."""
        ...

    async def rollback(self, run_id: str, force: bool) -> tuple[bool, Doc]:
        """Undo a run: (refused anything, ``{removed, reverted, refused}``)."""
        ...

    async def trash(self, conversation_id: str) -> None: ...

    async def update(self, conversation_id: str, changes: Doc) -> None: ...

    async def close(self) -> None: ...


def _document_bytes(conversations: list[bytes], run_id: str | None) -> bytes:
    """An export document around already-serialised conversations (no second copy of them)."""
    head = export_document([], run_id)
    del head["conversations"]
    return b"".join(
        [orjson.dumps(head)[:-1], b',"conversations":[', b",".join(conversations), b"]}"]
    )


def _merge_counts(total: Doc, part: Doc) -> None:
    for name in ("created", "merged", "unchanged", "skipped"):
        total.setdefault(name, []).extend(part.get(name) or [])


class ApiTarget:
    """A running sidecar, over its REST API (the token in ``CHAT_SIDECAR_TOKEN``)."""

    kind = "api"
    concurrency = 4

    def __init__(self, url: str, token: str, data_dir: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.data_dir = data_dir
        #: Bytes per import body: 3 MiB (under the default 4 MiB limit) until a sidecar started
        #: with a lower ``--max-body-bytes`` refuses one; then halved until bodies pass.
        self.body_budget = API_BODY_BUDGET
        self._session = ClientSession(
            timeout=ClientTimeout(total=600),
            headers={"Authorization": f"Bearer {token}"},
        )

    @classmethod
    async def connect(cls, url: str, token: str) -> ApiTarget:
        target = cls(url, token)
        try:
            health = await target._call("GET", "/health")
        except BaseException:
            await target.close()
            raise
        if isinstance(health, dict) and isinstance(health.get("data_dir"), str):
            target.data_dir = Path(health["data_dir"])
        return target

    async def _call(
        self, method: str, path: str, body: bytes | None = None, ok: tuple[int, ...] = (200,)
    ) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            async with self._session.request(
                method, self.url + path, data=body, headers=headers
            ) as response:
                text = await response.read()
                status = response.status
        except (ClientError, TimeoutError) as exc:
            raise TargetError(f"cannot reach the sidecar at {self.url}: {exc}") from None
        payload = orjson.loads(text) if text else None
        if status == 404 and 404 in ok:
            return None
        if status not in ok:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            message = error.get("message") if isinstance(error, dict) else None
            if status == 401:
                message = f"the token was refused (set {TOKEN_ENV})"
            if status == 413 and body is not None:
                raise TooLarge(
                    f"{method} {path}: HTTP 413: the sidecar refuses a {len(body):,}-byte body"
                    " (one message is bigger than its limit): raise its --max-body-bytes, or stop"
                    " it and run the import again to open the store directly",
                    len(body),
                )
            error_type = Refused if status in (409, 413, 422) else TargetError
            raise error_type(f"{method} {path}: HTTP {status}: {message or text[:200]!r}")
        return payload if status != 409 else {"_status": 409, **(payload or {})}

    async def summaries(self) -> list[Doc]:
        items: list[Doc] = []
        cursor = ""
        while True:
            query = f"?limit={API_PAGE}&archived=any&deleted=any"
            if cursor:
                query += f"&cursor={quote(cursor)}"
            page = await self._call("GET", "/api/v1/conversations" + query)
            items.extend(page["items"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return items

    async def export(self, conversation_id: str) -> Doc | None:
        path = f"/api/v1/conversations/{quote(conversation_id)}/export?format=json"
        document = await self._call("GET", path, ok=(200, 404))
        if document is None:
            return None
        conversations = document.get("conversations")
        if isinstance(conversations, list):
            return conversations[0] if conversations else None
        return dict(document)

    async def import_conversations(self, conversations: list[Doc], run_id: str | None) -> Doc:
        """Batches of whole conversations under the body budget; a conversation bigger than
        that alone goes in parts (:mod:`migrate.parts`). A body the sidecar refuses as too large
        (413: it was started with a lower ``--max-body-bytes``) changed nothing, so it is sent
        again in smaller bodies."""
        total: Doc = {"created": [], "merged": [], "unchanged": [], "skipped": []}
        batch: list[Doc] = []
        items: list[bytes] = []
        size = 0
        for conversation in [*conversations, None]:
            item = orjson.dumps(conversation) if conversation is not None else None
            too_big = item is not None and len(item) > self.body_budget
            if batch and (item is None or too_big or size + len(item) > self.body_budget):
                _merge_counts(total, await self._import_batch(batch, items, run_id))
                batch, items, size = [], [], 0
            if conversation is not None and item is not None and too_big:
                _merge_counts(total, await self._import_in_parts(conversation, run_id))
            elif conversation is not None and item is not None:
                batch.append(conversation)
                items.append(item)
                size += len(item) + 1
        return total

    async def _import_batch(self, batch: list[Doc], items: list[bytes], run_id: str | None) -> Doc:
        try:
            answer: Doc = await self._call("POST", "/api/v1/import", _document_bytes(items, run_id))
            return answer
        except TooLarge as refused:
            if not self._shrink_budget(refused.size):
                raise
            return await self.import_conversations(batch, run_id)

    async def _import_in_parts(self, conversation: Doc, run_id: str | None) -> Doc:
        answers = []
        for part in conversation_parts(conversation, self.body_budget):
            body = _document_bytes([orjson.dumps(part)], run_id)
            try:
                answers.append(await self._call("POST", "/api/v1/import", body))
            except TooLarge as refused:
                if not self._shrink_budget(refused.size):
                    raise
                # the parts already in are sent again inside smaller ones: idempotent, and the
                # answers kept so far still say whether this run created the conversation
                answers.append(await self._import_in_parts(conversation, run_id))
                break
        return combined(str(conversation["id"]), answers)

    def _shrink_budget(self, refused_size: int) -> bool:
        """Halve the budget below a refused body's size; False when it is already the least."""
        smaller = max(MIN_BODY_BUDGET, min(self.body_budget, refused_size) // 2)
        if smaller >= self.body_budget:
            return False
        self.body_budget = smaller
        return True

    async def rollback(self, run_id: str, force: bool) -> tuple[bool, Doc]:
        body = orjson.dumps({"force": force})
        path = f"/api/v1/migrations/{quote(run_id)}/rollback"
        payload = await self._call("POST", path, body, ok=(200, 409))
        if isinstance(payload, dict) and payload.get("_status") == 409:
            details = payload.get("error", {}).get("details", {})
            return True, dict(details)
        return bool(payload.get("refused")), dict(payload)

    async def trash(self, conversation_id: str) -> None:
        await self._call("DELETE", f"/api/v1/conversations/{quote(conversation_id)}", ok=(204, 200))

    async def update(self, conversation_id: str, changes: Doc) -> None:
        path = f"/api/v1/conversations/{quote(conversation_id)}"
        await self._call("PATCH", path, orjson.dumps(changes))

    async def close(self) -> None:
        await self._session.close()


class EmptyTarget:
    """A data dir with no store yet, for commands that only read: nothing is created."""

    kind = "direct"
    concurrency = 1

    def __init__(self, data_dir: Path) -> None:
        self.data_dir: Path | None = data_dir

    async def summaries(self) -> list[Doc]:
        return []

    async def export(self, conversation_id: str) -> Doc | None:
        return None

    async def import_conversations(self, conversations: list[Doc], run_id: str | None) -> Doc:
        raise TargetError(f"{self.data_dir} has no store (this command only reads)")

    async def rollback(self, run_id: str, force: bool) -> tuple[bool, Doc]:
        raise TargetError(f"migration run '{run_id}' imported nothing into {self.data_dir}")

    async def trash(self, conversation_id: str) -> None:
        raise TargetError(f"conversation '{conversation_id}' does not exist")

    async def update(self, conversation_id: str, changes: Doc) -> None:
        raise TargetError(f"conversation '{conversation_id}' does not exist")

    async def close(self) -> None:
        return None

"""Which :class:`~migrate.target.Target` a ``chat-migrate`` command writes to (CONTRACT §8).

The data dir's owner over REST when a sidecar holds its lock (found through the discovery file,
:func:`sidecar.runtime.owner_handshake`), else the store opened here. The one place ``migrate``
meets the sidecar's direct target, so the library modules import only its store.
"""

from __future__ import annotations

import os
from pathlib import Path

from sidecar.runtime import owner_handshake
from sidecar.service.direct_target import DirectTarget
from sidecar.settings import default_data_dir
from sidecar.store import StoreLocked, StoreVersionError
from sidecar.store.lock import is_owned
from sidecar.store.schema import STORE_FILE

from .problems import BadInput
from .target import TOKEN_ENV, ApiTarget, EmptyTarget, Target, TargetError


def _has_store(folder: Path) -> bool:
    return (folder / STORE_FILE).exists() or (folder / "conversations").exists()


def _token() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


async def open_target(data_dir: Path | None, url: str | None, *, create: bool = False) -> Target:
    """``--url``: that sidecar. Else the data dir's owner over REST, or the store directly.

    ``create``: make the store when the data dir has none (only a real import does; a dry run,
    ``validate``, ``dedupe`` and ``rollback`` see an empty store and write nothing).
    """
    if url is not None:
        token = _token()
        if token is None:
            raise BadInput("--url", f"needs the sidecar's token in {TOKEN_ENV}")
        return await ApiTarget.connect(url, token)
    folder = data_dir or default_data_dir()
    for _ in range(2):
        if folder.exists() and is_owned(folder):
            owner = await owner_handshake(folder)
            if owner is None:
                raise TargetError(f"{folder} is owned by a sidecar that does not answer")
            return await ApiTarget.connect(str(owner["url"]), str(owner["token"]))
        if not create and not _has_store(folder):
            return EmptyTarget(folder)
        try:
            return await DirectTarget.open(folder)
        except StoreLocked:
            continue
        except StoreVersionError as exc:
            raise TargetError(str(exc)) from None
    raise TargetError(f"{folder} changed owner while connecting; try again")

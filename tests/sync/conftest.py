"""A real PostgreSQL for the sync tests: one database per test, so tests stay independent.

``scripts/test`` starts a private server (scripts/_postgres.sh) and exports
``CHAT_SIDECAR_TEST_PG_DSN`` / ``CHAT_SIDECAR_TEST_PG_PASSWORD``. Run alone (``pytest tests/sync``)
the session starts one itself the same way. Without PostgreSQL the tests skip, except in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[str, str]]:
    """(DSN without password, password) of a running PostgreSQL."""
    dsn = os.environ.get("CHAT_SIDECAR_TEST_PG_DSN")
    if dsn:
        yield dsn, os.environ.get("CHAT_SIDECAR_TEST_PG_PASSWORD", "")
        return
    folder = Path(tempfile.mkdtemp(prefix="chat-sidecar-pg-"))
    started = subprocess.run(
        ["bash", str(ROOT / "scripts" / "_postgres.sh"), "start", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(ROOT / "scripts" / "_postgres.sh"), "stop", str(folder)])
        reason = f"no PostgreSQL for the sync tests: {started.stderr.strip()[-300:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield (folder / "dsn").read_text().strip(), (folder / ".pw").read_text().strip()
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "_postgres.sh"), "stop", str(folder)])


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture
async def hub_url(
    pg_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """A fresh, empty database for this test; the password is in CHAT_SIDECAR_SYNC_PASSWORD."""
    dsn, password = pg_server
    name = f"hub_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(dsn, password=password)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    monkeypatch.setenv("CHAT_SIDECAR_SYNC_PASSWORD", password)
    yield with_database(dsn, name)
    admin = await asyncpg.connect(dsn, password=password)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()

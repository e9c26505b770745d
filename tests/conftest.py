"""Shared fixtures. Every store test runs once per document storage (the tinydb way)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sidecar.store import Store, StoreConfig
from sidecar.store.documents import STORAGES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CHAT_SIDECAR_E2E") == "1":
        return
    skip = pytest.mark.skip(reason="end-to-end: run with scripts/test --e2e or CI=true")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=sorted(STORAGES))
def storage_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store_config(storage_name: str) -> StoreConfig:
    return StoreConfig(storage=storage_name, checkpoint_interval=3600)


@pytest.fixture
async def store(data_dir: Path, store_config: StoreConfig) -> AsyncIterator[Store]:
    opened = await Store.open(data_dir, store_config)
    try:
        yield opened
    finally:
        await opened.close()

"""A real store in a temp dir with a real search index beside it."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sidecar.search import SearchConfig, SearchIndex
from sidecar.store import Store, StoreConfig

STORE_CONFIG = StoreConfig(checkpoint_interval=3600)


@dataclass
class Env:
    """The store and the index, reopenable (restart tests close and open both)."""

    data_dir: Path
    store: Store
    index: SearchIndex
    config: SearchConfig

    async def search(self, q: str, **filters: Any) -> list[dict[str, Any]]:
        await self.index.idle()
        result = await self.index.query(q, **filters)
        items: list[dict[str, Any]] = result["items"]
        return items

    async def close(self) -> None:
        await self.index.close()
        await self.store.close()

    async def reopen(self) -> None:
        self.store = await Store.open(self.data_dir, STORE_CONFIG)
        self.index = await SearchIndex.open(self.store, self.config)


async def open_env(data_dir: Path, config: SearchConfig | None = None) -> Env:
    store = await Store.open(data_dir, STORE_CONFIG)
    config = config or SearchConfig()
    return Env(data_dir, store, await SearchIndex.open(store, config), config)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    opened = await open_env(tmp_path / "data")
    try:
        yield opened
    finally:
        await opened.close()


def folded(text: str) -> str:
    """Case- and accent-folded, as the tokenizer compares words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def highlighted(item: dict[str, Any]) -> list[str]:
    return [item["snippet"][start:end] for start, end in item["highlights"]]


def message_ids(items: list[dict[str, Any]]) -> list[str | None]:
    return [item["message_id"] for item in items]

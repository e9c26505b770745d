"""The settings table is the one source of defaults: the layers' own configs must agree with it.

The store, the event hub and the turn engine sit below ``settings`` (which they may not import),
so their configs keep defaults of their own for code that builds them directly (tests,
benchmarks); these tests keep those defaults equal to the table's.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from sidecar.events.hub import EventHub
from sidecar.service.turns import TurnConfig
from sidecar.settings import BY_NAME, ServerConfig
from sidecar.store import StoreConfig


def test_the_store_config_defaults_are_the_table_s() -> None:
    assert StoreConfig() == ServerConfig(data_dir=Path("/nowhere")).store()


def test_the_turn_config_defaults_are_the_table_s() -> None:
    config = TurnConfig()
    assert config.retry_attempts == BY_NAME["retry_attempts"].default
    assert config.retry_base_delay_s == BY_NAME["retry_base_delay"].default
    assert config.tool_timeout_s == BY_NAME["tool_timeout"].default


def test_the_event_hub_defaults_are_the_server_config_s() -> None:
    parameters = inspect.signature(EventHub).parameters
    config = ServerConfig(data_dir=Path("/nowhere"))
    assert parameters["retention"].default == config.event_retention
    assert parameters["retention_seconds"].default == config.event_retention_seconds

"""Two and three sidecars on one hub end equal: compared through their APIs, every field."""

from __future__ import annotations

from pathlib import Path

import pytest

from .devices import Device, converge, running

pytestmark = pytest.mark.subprocess


async def test_two_devices_exchange_conversations_messages_and_fields(
    hub_url: str, tmp_path: Path
) -> None:
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    with running([a, b]):
        a.start()
        b.start()
        cid = await a.create(title="from a")
        await a.append(cid, "hello")
        other = await b.create(title="from b")
        await b.append(other, "hi there")
        state = await converge([a, b])
        assert set(state) == {cid, other}
        assert state[cid]["conversation"]["title"] == "from a"
        await b.patch(cid, title="renamed on b", starred=True)
        state = await converge([a, b])
        assert state[cid]["conversation"]["title"] == "renamed on b"
        assert state[cid]["conversation"]["starred"] is True
        health = await a.health()
        assert health["sync"]["state"] == "online"
        assert health["status"] == "ok"

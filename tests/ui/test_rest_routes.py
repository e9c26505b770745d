"""The /ui page's HTTP transport, in real Chromium, calls the sidecar through the route map
generated from the table of operations (media/rest_routes_table.js, served by /ui): calls the
former hand-written map could not make (``tools.list``) or made without a param (``role``), and a
header (``If-Match``) that must reach the operation."""

from __future__ import annotations

from playwright.sync_api import BrowserContext

from .conftest import Sidecar, open_ui


def test_the_page_transport_calls_through_the_generated_route_map(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    conversation = sidecar.api("POST", "/api/v1/conversations", {"title": "Routes"})
    cid = conversation["id"]
    for role, content in (("user", "brave question"), ("assistant", "brave answer")):
        sidecar.api(
            "POST", f"/api/v1/conversations/{cid}/messages", {"role": role, "content": content}
        )
    page = open_ui(context, sidecar)
    result = page.evaluate(
        """async ([token, cid]) => {
        const lib = await import('./client.js');
        const transport = new lib.HttpTransport({ baseUrl: location.origin, token });
        const tools = await transport.request('tools.list', {});
        const found = await transport.request('search.query', { q: 'brave', role: 'assistant' });
        let stale = null;
        try {
            await transport.request('conversations.update', { conversation_id: cid, title: 'x', if_revision: 0 });
        } catch (error) {
            stale = error.code;
        }
        return { tools, roles: found.items.map((item) => item.role), stale };
    }""",
        [sidecar.token, cid],
    )
    assert result["tools"] == sidecar.api("GET", "/api/v1/tools")
    assert result["roles"] == ["assistant"]
    assert result["stale"] == "conflict"
    assert sidecar.api("GET", f"/api/v1/conversations/{cid}")["title"] == "Routes"

"""Turns end to end with the echo provider: a real app, store, hub and engine on loopback."""

from __future__ import annotations

import asyncio

from tests.turns.conftest import SidecarFactory, until

LONG = "The quick brown fox jumps over the lazy dog; " * 6


async def test_send_streams_the_echo_and_completes(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar(echo_chunk=4)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "hello, sidecar")
    assert sent["message"]["role"] == "user"
    assert sent["turn"]["state"] == "streaming"
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "completed")
    page = await sidecar.get(cid)
    assert [(m["role"], m["status"], m["content"]) for m in page["messages"]] == [
        ("user", "complete", "hello, sidecar"),
        ("assistant", "complete", "hello, sidecar"),
    ]
    assert page["state"] == "completed"
    assert page["messages"][1]["id"] == turn["assistant_message_id"]
    assert [a["outcome"] for a in turn["attempts"]] == ["completed"]


async def test_a_turn_is_announced_in_order_with_exact_offsets(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(echo_chunk=3)
    cid = await sidecar.conversation()
    stream = await sidecar.stream(f"?conversation_id={cid}")
    sent = await sidecar.send(cid, LONG)
    seen = await until(stream, "turn.state", state="completed")
    seqs = [e["id"] for e in seen]
    assert seqs == sorted(set(seqs))
    first_turn = next(e for e in seen if e["event"] == "turn.state")
    assert first_turn["data"]["state"] == "streaming" and first_turn["data"]["previous"] is None
    content = ""
    for event in seen:
        if event["event"] == "message.delta":
            assert event["data"]["offset"] == len(content), "a gap or a repeat"
            assert event["data"]["turn_id"] == sent["turn"]["id"]
            content += event["data"]["text"]
    assert content == LONG
    final = [e for e in seen if e["event"] == "message.updated"][-1]["data"]["message"]
    assert final["status"] == "complete" and final["content"] == LONG
    assert seen[-1]["data"]["previous"] == "streaming"


async def test_the_same_client_message_id_is_answered_from_the_first(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    first = await sidecar.send(cid, "once", client_message_id="cm-1")
    again = await sidecar.send(cid, "once", status=200, client_message_id="cm-1")
    assert again["message"]["id"] == first["message"]["id"]
    assert again["turn"]["id"] == first["turn"]["id"]
    await sidecar.wait_state(cid, first["turn"]["id"], "completed")
    clash = await sidecar.send(cid, "twice", status=409, client_message_id="cm-1")
    assert clash["error"]["details"]["existing"]["content"] == "once"
    assert len(await sidecar.store.list_turns(cid)) == 1
    page = await sidecar.get(cid)
    assert page["message_count"] == 2


async def test_a_second_send_while_a_turn_runs_is_a_conflict_naming_the_state(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(echo_chunk=1, echo_delay_ms=20)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, LONG)
    refused = await sidecar.send(cid, "me too", status=409)
    assert "streaming" in refused["error"]["message"]
    assert refused["error"]["details"]["state"] == "streaming"
    await sidecar.action(cid, "cancel", {"turn_id": sent["turn"]["id"]})
    assert (await sidecar.get(cid))["message_count"] == 2


async def test_a_tool_call_waits_for_approval_then_runs_and_the_reply_uses_it(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    stream = await sidecar.stream()
    sent = await sidecar.send(cid, '/tool calculator {"expression": "6*7"}')
    seen = await until(stream, "tool.approval_requested")
    calls = seen[-1]["data"]["tool_calls"]
    assert [(c["name"], c["arguments"], c["status"]) for c in calls] == [
        ("calculator", {"expression": "6*7"}, "pending")
    ]
    turn = await sidecar.turn(cid, sent["turn"]["id"])
    assert turn["state"] == "awaiting_tool_approval"
    decided = await sidecar.action(
        cid,
        "approve_tools",
        {"turn_id": turn["id"], "decisions": [{"tool_call_id": calls[0]["id"], "approved": True}]},
    )
    assert decided["state"] == "executing_tools"
    await sidecar.wait_state(cid, turn["id"], "completed")
    messages = (await sidecar.get(cid))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    proposer, result, reply = messages[1], messages[2], messages[3]
    assert proposer["tool_calls"][0]["status"] == "succeeded"
    assert proposer["tool_calls"][0]["result"] == {"expression": "6*7", "value": 42}
    assert result["tool_call_id"] == calls[0]["id"] and '"value":42' in result["content"]
    assert reply["content"] == "calculator ran successfully."
    assert reply["status"] == "complete"


async def test_a_denied_tool_call_is_reported_to_the_provider_as_denied(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "/tool clock {}")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "awaiting_tool_approval")
    proposer = (await sidecar.get(cid))["messages"][-1]
    call_id = proposer["tool_calls"][0]["id"]
    await sidecar.action(
        cid,
        "approve_tools",
        {
            "turn_id": turn["id"],
            "decisions": [{"tool_call_id": call_id, "approved": False, "reason": "not now"}],
        },
    )
    await sidecar.wait_state(cid, turn["id"], "completed")
    messages = (await sidecar.get(cid))["messages"]
    assert messages[1]["tool_calls"][0]["status"] == "denied"
    assert messages[2]["metadata"] == {"tool_name": "clock", "denied": True, "reason": "not now"}
    assert messages[3]["content"] == "clock was denied: not now"


async def test_decisions_are_checked_against_the_turn(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "/tool clock {}")
    turn_id = sent["turn"]["id"]
    await sidecar.wait_state(cid, turn_id, "awaiting_tool_approval")
    wrong = await sidecar.action(
        cid,
        "approve_tools",
        {"turn_id": turn_id, "decisions": [{"tool_call_id": "nope", "approved": True}]},
        status=422,
    )
    assert wrong["error"]["details"]["field"] == "decisions[0].tool_call_id"
    malformed = await sidecar.action(
        cid,
        "approve_tools",
        {"turn_id": turn_id, "decisions": [{"tool_call_id": "x", "approved": "yes"}]},
        status=422,
    )
    assert malformed["error"]["details"]["field"] == "decisions[0].approved"
    assert (await sidecar.turn(cid, turn_id))["state"] == "awaiting_tool_approval"
    unknown = await sidecar.action(
        cid, "approve_tools", {"turn_id": "no-such-turn", "decisions": [{}]}, status=422
    )
    assert unknown["error"]["details"]["field"] == "decisions[0].tool_call_id"


async def test_auto_approved_tools_run_without_asking(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar(tool_auto_approve=("clock",))
    cid = await sidecar.conversation()
    stream = await sidecar.stream()
    sent = await sidecar.send(cid, "/tool clock {}")
    seen = await until(stream, "turn.state", state="completed")
    assert "tool.approval_requested" not in [e["event"] for e in seen]
    states = [e["data"]["state"] for e in seen if e["event"] == "turn.state"]
    assert states == ["streaming", "executing_tools", "streaming", "completed"]
    reply = (await sidecar.get(cid))["messages"][-1]
    assert reply["content"] == "clock ran successfully."
    assert sent["turn"]["id"] == seen[-1]["data"]["turn_id"]


async def test_a_client_tool_that_never_answers_fails_after_its_timeout(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(tool_auto_approve=("*",), tool_timeout=0.2)
    sidecar.engine.tools.register("a-client", [{"name": "editor.openFile"}])
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "/tool editor.openFile {}")
    await sidecar.wait_state(cid, sent["turn"]["id"], "completed")
    messages = (await sidecar.get(cid))["messages"]
    assert messages[1]["tool_calls"][0]["status"] == "failed"
    assert messages[2]["content"] == '{"error":"no result within 0.2 s"}'
    assert messages[3]["content"] == "editor.openFile failed: no result within 0.2 s"


async def test_cancel_stops_the_stream_and_keeps_the_partial_reply(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(echo_chunk=2, echo_delay_ms=10)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, LONG)
    turn_id = sent["turn"]["id"]
    assistant_id = sent["turn"]["assistant_message_id"]
    await sidecar.wait_content(cid, assistant_id, 10)
    cancelled = await sidecar.action(cid, "cancel", {"turn_id": turn_id})
    assert cancelled["state"] == "cancelled"
    partial = await sidecar.store.get_message(cid, assistant_id)
    assert partial["status"] == "cancelled"
    assert 10 <= len(partial["content"]) < len(LONG)
    assert LONG.startswith(partial["content"])
    await asyncio.sleep(0.1)
    assert (await sidecar.store.get_message(cid, assistant_id))["content"] == partial["content"]
    again = await sidecar.action(cid, "cancel", {"turn_id": turn_id}, status=409)
    assert again["error"]["details"]["state"] == "cancelled"


async def test_retry_writes_a_new_reply_and_keeps_the_failed_one_on_a_branch(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(echo_chunk=2, echo_delay_ms=5)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, LONG)
    turn_id = sent["turn"]["id"]
    old_reply = sent["turn"]["assistant_message_id"]
    await asyncio.sleep(0.05)
    await sidecar.action(cid, "cancel", {"turn_id": turn_id})
    kept = await sidecar.store.get_message(cid, old_reply)
    retried = await sidecar.action(cid, "retry", {"turn_id": turn_id})
    assert retried["state"] == "streaming"
    assert retried["assistant_message_id"] != old_reply
    done = await sidecar.wait_state(cid, turn_id, "completed")
    assert [a["outcome"] for a in done["attempts"]] == ["cancelled", "completed"]
    page = await sidecar.get(cid)
    assert page["active_branch"] == "main"
    assert [(m["role"], m["content"]) for m in page["messages"]] == [
        ("user", LONG),
        ("assistant", LONG),
    ]
    branches = await sidecar.call("GET", f"/api/v1/conversations/{cid}/branches", status=200)
    side = [b for b in branches if b["name"] != "main"]
    assert [b["head_message_id"] for b in side] == [old_reply]
    assert await sidecar.store.get_message(cid, old_reply) == kept
    refused = await sidecar.action(cid, "retry", {"turn_id": turn_id}, status=409)
    assert refused["error"]["details"]["state"] == "completed"


async def test_edit_and_resend_starts_a_branch_and_branches_switch(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    first = await sidecar.send(cid, "first")
    await sidecar.wait_state(cid, first["turn"]["id"], "completed")
    second = await sidecar.send(cid, "second")
    await sidecar.wait_state(cid, second["turn"]["id"], "completed")
    edited = await sidecar.send(cid, "second, edited", parent_id=second["message"]["parent_id"])
    await sidecar.wait_state(cid, edited["turn"]["id"], "completed")
    page = await sidecar.get(cid)
    assert page["active_branch"] != "main"
    assert [m["content"] for m in page["messages"]] == [
        "first",
        "first",
        "second, edited",
        "second, edited",
    ]
    await sidecar.call("PUT", f"/api/v1/conversations/{cid}/branches/main", {}, status=200)
    main = await sidecar.get(cid)
    assert [m["content"] for m in main["messages"]] == ["first", "first", "second", "second"]


async def test_a_reload_mid_reply_pulls_then_resumes_with_no_gap_and_no_repeat(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(echo_chunk=3, echo_delay_ms=10)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, LONG)
    assistant_id = sent["turn"]["assistant_message_id"]
    await sidecar.wait_content(cid, assistant_id, 20)
    # The reloaded webview: pull (content as the sidecar holds it, with event_seq), subscribe since.
    page = await sidecar.get(cid)
    reply = page["messages"][-1]
    assert reply["id"] == assistant_id
    assert reply["status"] == "streaming", "the reload must happen mid-reply"
    content = reply["content"]
    assert 0 < len(content) < len(LONG)
    stream = await sidecar.stream(f"?since={page['event_seq']}&conversation_id={cid}")
    seen = await until(stream, "turn.state", state="completed")
    for event in seen:
        if event["event"] == "message.delta" and event["data"]["message_id"] == assistant_id:
            assert event["data"]["offset"] == len(content), "a gap or a repeat after the pull"
            content += event["data"]["text"]
    assert content == LONG
    assert (await sidecar.store.get_message(cid, assistant_id))["content"] == LONG


async def test_request_ids_make_actions_idempotent(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar(echo_chunk=1, echo_delay_ms=20)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, LONG)
    turn_id = sent["turn"]["id"]
    body = {"turn_id": turn_id, "request_id": "req-1"}
    first = await sidecar.action(cid, "cancel", body)
    again = await sidecar.action(cid, "cancel", body)
    assert first["state"] == again["state"] == "cancelled"
    clash = await sidecar.action(cid, "retry", body, status=409)
    assert clash["error"]["details"]["existing"]["id"] == turn_id
    assert (await sidecar.turn(cid, turn_id))["state"] == "cancelled"


async def test_bad_actions_are_refused_and_change_nothing(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    missing = await sidecar.send(cid, None, status=422)  # type: ignore[arg-type]
    assert missing["error"]["details"]["field"] == "content"
    unknown = await sidecar.call(
        "POST",
        f"/api/v1/conversations/{cid}/actions/send_message",
        {"content": "x", "colour": "red"},
        status=422,
    )
    assert unknown["error"]["details"]["field"] == "colour"
    await sidecar.call(
        "POST", "/api/v1/conversations/nobody/actions/send_message", {"content": "x"}, status=404
    )
    bad_turn = await sidecar.action(cid, "cancel", {"turn_id": "../etc"}, status=422)
    assert bad_turn["error"]["details"]["field"] == "turn_id"
    await sidecar.action(cid, "retry", {"turn_id": "no-such-turn"}, status=404)
    page = await sidecar.get(cid)
    assert page["message_count"] == 0 and page["revision"] == 1 and page["state"] == "idle"

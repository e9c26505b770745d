"""The merge itself, without a hub: the same changes in any order, repeated or not, give the same
state (a join), and the clock never goes back. Fast, so hypothesis tries many inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sidecar.sync.diff import heads_of
from sidecar.sync.hlc import HybridClock, make_stamp
from sidecar.sync.model import ConversationState, Op, branch_key

DEVICES = ("d1", "d2", "d3")
stamps = st.builds(make_stamp, st.integers(1, 5), st.integers(0, 2), st.sampled_from(DEVICES))
VALUES = ["x", "y", True, "main", "a", "b", "c"]


def unique(stamp: str, value: object) -> str:
    """One write, one stamp: a device never writes two values under the same stamp."""
    physical, _, device = stamp.split(".")
    return make_stamp(int(physical), VALUES.index(value), device)


MESSAGES = [f"m{i}" for i in range(6)]


def message_op(index: int, stamp: str, content: str) -> Op:
    parent = None if index == 0 else MESSAGES[(index - 1) // 2]  # a small tree
    doc = {"id": MESSAGES[index], "conversation_id": "c", "parent_id": parent, "role": "user"}
    return Op("c", "m", MESSAGES[index], {"doc": doc, "f": {"content": [content, stamp]}}, stamp)


ops = st.one_of(
    st.builds(
        lambda field, value, stamp: Op(
            "c", "c", "", {"f": {field: [value, unique(stamp, value)]}}, unique(stamp, value)
        ),
        st.sampled_from(["title", "starred", "active_branch"]),
        st.sampled_from(["x", "y", True, "main"]),
        stamps,
    ),
    st.builds(
        lambda index, stamp, content: message_op(index, unique(stamp, content), content),
        st.integers(0, 5),
        stamps,
        st.sampled_from(["a", "b", "c"]),
    ),
    st.builds(
        lambda name, head, prev, stamp: Op(
            "c",
            "b",
            branch_key(name, head, prev),
            {"name": name, "head": head, "prev": prev},
            stamp,
        ),
        st.sampled_from(["main", "branch-1"]),
        st.sampled_from([*MESSAGES, None]),
        st.sampled_from([*MESSAGES, None]),
        stamps,
    ),
)


def merged(changes: list[Op]) -> dict[str, Any]:
    state = ConversationState("c")
    for op in changes:
        state.merge(op)
    return {
        "conversation": state.conversation_doc(),
        "messages": state.message_docs(),
        "branches": heads_of(state),
    }


@given(st.lists(ops, max_size=25), st.randoms(use_true_random=False))
def test_any_order_and_any_repeats_give_the_same_state(changes: list[Op], rnd: Any) -> None:
    shuffled = list(changes) + rnd.sample(changes, k=len(changes) // 2)
    rnd.shuffle(shuffled)
    assert merged(shuffled) == merged(changes)


@given(st.lists(ops, max_size=25))
def test_every_branch_head_is_a_known_message_and_no_message_is_lost(changes: list[Op]) -> None:
    state = merged(changes)
    known = {m["id"] for m in state["messages"]}
    assert all(head is None or head in known for head in state["branches"].values())
    assert "main" in state["branches"]


def test_concurrent_moves_of_main_keep_both_heads() -> None:
    root = message_op(0, make_stamp(1, 0, "d1"), "q")
    a = message_op(1, make_stamp(2, 0, "d1"), "from d1")
    b = message_op(2, make_stamp(2, 0, "d2"), "from d2")
    writes = [
        Op(
            "c",
            "b",
            branch_key("main", "m0", None),
            {"name": "main", "head": "m0", "prev": None},
            make_stamp(1, 0, "d1"),
        ),
        Op(
            "c",
            "b",
            branch_key("main", "m1", "m0"),
            {"name": "main", "head": "m1", "prev": "m0"},
            make_stamp(2, 0, "d1"),
        ),
        Op(
            "c",
            "b",
            branch_key("main", "m2", "m0"),
            {"name": "main", "head": "m2", "prev": "m0"},
            make_stamp(2, 0, "d2"),
        ),
    ]
    heads = merged([root, a, b, *writes])["branches"]
    assert heads == {"main": "m2", "conflict-1": "m1"}  # same time: the device id breaks the tie
    # d1 continues from its own head: the descendant now wins main, d2's head moves aside
    c = message_op(3, make_stamp(3, 0, "d1"), "more from d1")
    more = Op(
        "c",
        "b",
        branch_key("main", "m3", "m1"),
        {"name": "main", "head": "m3", "prev": "m1"},
        make_stamp(3, 0, "d1"),
    )
    assert merged([root, a, b, c, *writes, more])["branches"] == {"main": "m3", "conflict-1": "m2"}


def test_the_clock_never_goes_back_and_moves_past_what_it_sees() -> None:
    wall = [100]
    clock = HybridClock("d1", wall_ms=lambda: wall[0])
    first = clock.now()
    wall[0] = 50  # the wall clock jumps back
    second = clock.now()
    assert second > first
    clock.observe(make_stamp(500, 3, "d2"))
    assert clock.now() > make_stamp(500, 3, "d2")
    restarted = HybridClock("d1", clock.last, wall_ms=lambda: 10)
    assert restarted.now() > clock.last

"""Generated legacy exports, messy on purpose: import, validate and re-import agree."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import cli, navi_items, store_state, write_export

T0 = 1_735_144_337_407

roles = st.sampled_from(["user", "assistant", "human", "ai", "bot", "system", "tool", "wizard"])
contents = st.sampled_from(
    # The long one makes its session's JSON text long enough to wait on the reader's spill.
    ["yes", "no", "hello", "Here is how", "多语言 🚀", "", "line\nbreak", "long " * 1000]
)
times = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=10**7).map(lambda d: T0 + d),
    st.integers(min_value=0, max_value=10**7).map(lambda d: (T0 + d) / 1000),
    st.integers(min_value=0, max_value=10**7).map(lambda d: str(T0 + d)),
    st.just("2024-12-25T17:19:08.757"),
    st.just("2024-12-25T17:19:08+02:00"),
    st.just("not a time"),
)


@st.composite
def messages(draw: st.DrawFn, session: int) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for index in range(draw(st.integers(min_value=0, max_value=8))):
        message: dict[str, Any] = {"role": draw(roles), "content": draw(contents)}
        if draw(st.booleans()):
            message["id"] = f"s{session}m{index}"
        stamp = draw(times)
        if stamp is not None:
            message["createdAt"] = stamp
        result.append(message)
        for _ in range(draw(st.integers(min_value=0, max_value=2))):  # re-saves
            result.append(dict(message))
    return result


@st.composite
def exports(draw: st.DrawFn) -> list[dict[str, Any]]:
    sessions = []
    for number in range(draw(st.integers(min_value=1, max_value=4))):
        session: dict[str, Any] = {"id": f"s{number}", "messages": draw(messages(number))}
        if draw(st.booleans()):
            session["title"] = draw(st.sampled_from(["", "A title", "  padded  "]))
        for flag in ("starred", "pinned", "archived"):
            session[flag] = draw(st.booleans())
        session["createdAt"] = draw(times)
        session["updatedAt"] = T0 + draw(st.integers(min_value=0, max_value=10**8))
        sessions.append(session)
    return sessions


@given(sessions=exports(), layout=st.sampled_from(["flat", "envelope", "envelope-items-first"]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_import_validate_and_reimport_agree(sessions: list[dict[str, Any]], layout: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="migrate-prop-"))
    try:
        path = write_export(
            root / "e.json",
            navi_items(sessions),
            envelope=layout != "flat",
            items_first=layout == "envelope-items-first",
        )
        data = root / "data"
        first = cli("import", "--json", "--data-dir", data, path)
        assert first.exit_code == 0, first.output
        report = json.loads(first.stdout)
        assert len(report["conversations"]["created"]) == len(sessions)
        state = store_state(data)
        checked = cli("validate", "--data-dir", data, path)
        assert checked.exit_code == 0, checked.output
        again = json.loads(cli("import", "--json", "--data-dir", data, path).stdout)
        assert again["conversations"]["created"] == again["conversations"]["merged"] == []
        assert store_state(data) == state
        stored = sum(len(c["messages"]) for c in state)
        written = sum(len(s["messages"]) for s in sessions)
        assert stored + report["messages"]["dropped_as_duplicates"] == written
        by_id = {f"navi-{s['id']}": s for s in sessions}
        for conversation in state:
            # Never reordered: what is stored is the export's messages, in export order, minus
            # the collapsed re-saves.
            (session,) = [s for k, s in by_id.items() if conversation["id"].startswith(k + "-")]
            exported = iter([m["content"] for m in session["messages"]])
            assert all(
                any(c == content for c in exported) for _, content in conversation["messages"]
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@given(
    common=st.integers(min_value=0, max_value=5),
    tail_a=st.integers(min_value=0, max_value=4),
    tail_b=st.integers(min_value=0, max_value=4),
    b_is_later=st.booleans(),
    one_run=st.booleans(),
)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_two_exports_of_one_chat_lose_nothing_and_follow_the_later_copy(
    common: int, tail_a: int, tail_b: int, b_is_later: bool, one_run: bool
) -> None:
    """Prefix or diverging copies, imported in one run or one after the other: the active branch
    is the common prefix plus the later copy's tail, and every message of both is stored."""

    def message(tag: str, index: int) -> dict[str, Any]:
        return {
            "id": f"{tag}{index}",
            "role": "user" if index % 2 == 0 else "assistant",
            "content": f"{tag} {index}",
            "createdAt": T0 + index * 60_000,
        }

    prefix = [message("p", i) for i in range(common)]
    copy_a = prefix + [message("a", common + i) for i in range(tail_a)]
    copy_b = prefix + [message("b", common + i) for i in range(tail_b)]
    updated_a, updated_b = (T0 + 1, T0 + 2) if b_is_later else (T0 + 2, T0 + 1)
    root = Path(tempfile.mkdtemp(prefix="migrate-merge-"))
    try:
        path_a = write_export(
            root / "a.json", navi_items([{"id": "s", "updatedAt": updated_a, "messages": copy_a}])
        )
        path_b = write_export(
            root / "b.json", navi_items([{"id": "s", "updatedAt": updated_b, "messages": copy_b}])
        )
        data = root / "data"
        if one_run:
            assert cli("import", "--data-dir", data, path_a, path_b).exit_code == 0
        else:
            assert cli("import", "--data-dir", data, path_a).exit_code == 0
            assert cli("import", "--data-dir", data, path_b).exit_code == 0
        (stored,) = store_state(data)
        later = copy_b if b_is_later else copy_a
        longer, shorter = (copy_a, copy_b) if len(copy_a) >= len(copy_b) else (copy_b, copy_a)
        expected = longer if longer[: len(shorter)] == shorter else later
        assert stored["messages"] == [[m["role"], m["content"]] for m in expected]
        contents = {m["content"] for m in stored["document"]["messages"]}
        assert contents == {m["content"] for m in copy_a + copy_b}
        again = cli("import", "--json", "--data-dir", data, path_a, path_b)
        assert json.loads(again.stdout)["conversations"]["unchanged"] == [stored["id"]]
    finally:
        shutil.rmtree(root, ignore_errors=True)

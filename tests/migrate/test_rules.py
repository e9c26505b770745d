"""Every normalising and duplicate rule of LEGACY_FORMATS §3-§4, on generated cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.alignment import same_message, settle
from migrate.model import Conversation, Message, RawConversation, RawMessage
from migrate.normalize import (
    LATEST_MS,
    ROLES,
    collapse_repeats,
    format_ms,
    normalise,
    normalise_role,
    parse_timestamp,
    title_from,
)
from migrate.problems import Problems
from migrate.rules import find_cross_app, merge

BASE_MS = 1_735_144_337_407
WINDOW = 2000

texts = st.text(min_size=1, max_size=30)
known_roles = st.sampled_from(sorted(ROLES))


def raw(messages: list[RawMessage], **fields: object) -> RawConversation:
    return RawConversation("navi", "s1", "f.json", "k", messages=messages, **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- roles


@given(role=known_roles, case=st.sampled_from([str.lower, str.upper, str.title]))
def test_known_roles_map_to_their_store_role(role: str, case: object) -> None:
    assert normalise_role(case(role)) == ROLES[role]  # type: ignore[operator]


@given(role=st.text(max_size=12).filter(lambda r: r.strip().lower() not in ROLES))
def test_unknown_roles_become_system_with_legacy_role_and_are_reported(role: str) -> None:
    problems = Problems("f.json")
    conversation = normalise(
        raw([RawMessage("a", role, "hi", BASE_MS), RawMessage("b", "user", "x", BASE_MS)]),
        problems,
        WINDOW,
    )
    first = conversation.messages[0]
    assert first.role == "system"
    assert first.metadata["legacy_role"] == role
    assert any("unknown role" in p.message for p in problems.items)


# ---------------------------------------------------------------------------- timestamps


@given(ms=st.integers(min_value=10**11, max_value=4 * 10**12))
def test_milliseconds_as_number_or_text(ms: int) -> None:
    assert parse_timestamp(ms) == ms
    assert parse_timestamp(str(ms)) == ms


@given(seconds=st.integers(min_value=0, max_value=10**11 - 1))
def test_seconds_below_1e11(seconds: int) -> None:
    assert parse_timestamp(seconds) == seconds * 1000
    assert parse_timestamp(f"{seconds}") == seconds * 1000


@given(
    moment=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.none()
    ),
    offset_minutes=st.integers(min_value=-720, max_value=720),
)
def test_iso_with_and_without_zone_keeps_milliseconds(
    moment: datetime, offset_minutes: int
) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    expected = (moment - datetime(1970, 1, 1)) // timedelta(milliseconds=1)
    assert parse_timestamp(moment.isoformat(timespec="milliseconds")) == expected  # no zone: UTC
    assert parse_timestamp(moment.isoformat(timespec="milliseconds") + "Z") == expected
    zone = timezone(timedelta(minutes=offset_minutes))
    aware = moment.replace(tzinfo=UTC).astimezone(zone)
    assert parse_timestamp(aware.isoformat(timespec="milliseconds")) == expected


@given(
    times=st.lists(
        st.one_of(st.none(), st.integers(min_value=10**12, max_value=2 * 10**12)),
        min_size=1,
        max_size=12,
    )
)
def test_missing_times_take_the_previous_one_and_order_is_never_changed(
    times: list[int | None],
) -> None:
    created = BASE_MS
    messages = [RawMessage(f"m{i}", "user", f"text {i}", t) for i, t in enumerate(times)]
    problems = Problems("f.json")
    conversation = normalise(raw(messages, created_at=created), problems, WINDOW)
    assert [m.content for m in conversation.messages] == [f"text {i}" for i in range(len(times))]
    previous = created
    for message, given_time in zip(conversation.messages, times, strict=True):
        expected = previous if given_time is None else given_time
        assert message.created_ms == expected
        previous = expected
    assert (None in times) == any("without a timestamp" in p.message for p in problems.items)


@given(ms=st.integers(min_value=0, max_value=LATEST_MS))
def test_store_format_round_trips_every_representable_millisecond(ms: int) -> None:
    text = format_ms(ms)
    assert len(text) == 24 and text.endswith("Z")
    assert parse_timestamp(text) == ms


@given(
    value=st.one_of(
        st.integers(min_value=LATEST_MS + 1, max_value=10**20),
        st.integers(max_value=-1),
        st.sampled_from(["", "soon", "0001-01-01T00:00:00+01:00", "NaN", "inf", True, [], {}]),
        st.just(float("nan")),
    )
)
def test_unusable_times_are_unreadable_not_guessed(value: object) -> None:
    assert parse_timestamp(value) is None


# ---------------------------------------------------------------------------- titles


@given(
    first=st.text(min_size=1, max_size=200).filter(
        lambda t: t.strip() and "\n" not in t and "\r" not in t
    )
)
def test_missing_title_is_first_line_of_first_user_message_cut_to_80(first: str) -> None:
    messages = [
        Message("a", None, "assistant", "not me", BASE_MS),
        Message("b", None, "user", first + "\nsecond line", BASE_MS),
    ]
    assert title_from(messages) == first.strip()[:80]
    conversation = normalise(
        raw([RawMessage("a", "user", first + "\nmore", BASE_MS)], title=""), Problems("f"), WINDOW
    )
    assert conversation.title == first.strip()[:80]


# ---------------------------------------------------------------------------- re-saves


def message(i: int, role: str, content: str, ms: int, legacy: str | None = None) -> Message:
    return Message(f"id{i}", legacy, role, content, ms)


@given(
    saves=st.integers(min_value=2, max_value=8),
    gaps=st.lists(st.integers(min_value=0, max_value=WINDOW), min_size=8, max_size=8),
    same_id=st.booleans(),
)
def test_a_chain_of_resaves_collapses_to_one_with_latest_content_and_first_time(
    saves: int, gaps: list[int], same_id: bool
) -> None:
    """Each save is within the window of the one before it, even if the chain spans longer."""
    chain = []
    ms = BASE_MS
    for i in range(saves):
        content = "reply" if not same_id else "reply" + "!" * i  # a streaming reply grows
        chain.append(message(i, "assistant", content, ms, "same" if same_id else None))
        ms += gaps[i]
    kept, dropped = collapse_repeats([message(99, "user", "q", BASE_MS - 5000), *chain], WINDOW)
    assert dropped == saves - 1
    assert len(kept) == 2
    assert kept[1].content == chain[-1].content
    assert kept[1].created_ms == BASE_MS


@given(gap=st.integers(min_value=WINDOW + 1, max_value=10**7), content=texts)
def test_identical_messages_further_apart_are_real_and_stay(gap: int, content: str) -> None:
    first = message(1, "user", content, BASE_MS)
    second = message(2, "user", content, BASE_MS + gap)
    kept, dropped = collapse_repeats([first, second], WINDOW)
    assert dropped == 0 and len(kept) == 2


@given(content=texts)
def test_repeats_are_compared_with_the_one_just_before_not_the_last_kept(content: str) -> None:
    """A, B, A within the window: the second A follows B, so it is a real message."""
    a1 = message(1, "user", content, BASE_MS)
    b = message(2, "assistant", content + "?", BASE_MS + 10)
    a2 = message(3, "user", content, BASE_MS + 20)
    kept, _ = collapse_repeats([a1, b, a2], WINDOW)
    assert len(kept) == 3


@given(
    window=st.integers(min_value=0, max_value=10_000),
    gap=st.integers(min_value=0, max_value=10_000),
)
def test_dup_window_is_the_threshold(window: int, gap: int) -> None:
    kept, _ = collapse_repeats(
        [message(1, "user", "yes", BASE_MS), message(2, "user", "yes", BASE_MS + gap)], window
    )
    assert len(kept) == (1 if gap <= window else 2)


# ---------------------------------------------------------------------------- merging copies


def conversation(
    messages: list[Message], updated: int, title: str = "t", starred: bool = False
) -> Conversation:
    return Conversation(
        "navi", "s1", "navi-s1", title, BASE_MS, updated, starred, False, False, list(messages)
    )


def numbered(count: int, start: int = 0, tag: str = "") -> list[Message]:
    return [
        message(
            i,
            "user" if i % 2 == 0 else "assistant",
            f"{tag}m{i}",
            BASE_MS + i * 10_000,
            f"{tag}L{i}",
        )
        for i in range(start, start + count)
    ]


@given(
    total=st.integers(min_value=0, max_value=12),
    cut=st.integers(min_value=0, max_value=12),
    longer_is_older=st.booleans(),
)
def test_prefix_copies_merge_to_the_longer(total: int, cut: int, longer_is_older: bool) -> None:
    full = numbered(total)
    short = full[: min(cut, total)]
    older, newer = (full, short) if longer_is_older else (short, full)
    base = conversation(older, BASE_MS, "old", starred=True)
    other = conversation(newer, BASE_MS + 1, "new", starred=False)
    outcome = merge(base, other)
    assert [m.legacy_id for m in base.messages] == [m.legacy_id for m in full]
    assert base.branches == [] and outcome.branch is None
    assert (base.title, base.starred) == ("new", False)  # from the latest updatedAt


@given(
    common=st.integers(min_value=0, max_value=6),
    tail_a=st.integers(min_value=1, max_value=5),
    tail_b=st.integers(min_value=1, max_value=5),
    a_is_later=st.booleans(),
)
def test_diverging_copies_keep_latest_tail_on_main_and_other_on_import_branch(
    common: int, tail_a: int, tail_b: int, a_is_later: bool
) -> None:
    prefix = numbered(common)
    a = conversation(
        prefix + numbered(tail_a, common, "a"), BASE_MS + (2 if a_is_later else 1), "A"
    )
    b = conversation(
        prefix + numbered(tail_b, common, "b"), BASE_MS + (1 if a_is_later else 2), "B"
    )
    a_tail = [m.legacy_id for m in a.messages[common:]]
    b_tail = [m.legacy_id for m in b.messages[common:]]
    outcome = merge(a, b)
    later_tail, other_tail = (a_tail, b_tail) if a_is_later else (b_tail, a_tail)
    assert [m.legacy_id for m in a.messages] == [m.legacy_id for m in prefix] + later_tail
    assert outcome.branch == "import-1"
    (branch,) = a.branches
    assert branch.name == "import-1"
    assert [m.legacy_id for m in branch.messages] == other_tail
    assert branch.parent_id == (prefix[-1].id if prefix else None)
    assert a.title == ("A" if a_is_later else "B")


def test_same_message_rule() -> None:
    a = message(1, "user", "x", BASE_MS, "L1")
    assert same_message(a, message(2, "assistant", "other", 0, "L1"))  # equal legacy ids
    assert not same_message(a, message(2, "user", "x", BASE_MS, "L2"))  # different legacy ids
    assert same_message(message(1, "user", "x", BASE_MS), message(2, "user", "x", BASE_MS, "L9"))
    assert not same_message(message(1, "user", "x", BASE_MS), message(2, "user", "x", BASE_MS + 1))
    synced = message(7, "user", "x", BASE_MS + 99_000)
    synced.synced = True  # posted through the API: the store's own id and time
    assert same_message(synced, message(2, "user", "x", BASE_MS, "L9"))
    assert same_message(message(2, "user", "x", BASE_MS, "L9"), synced)
    assert not same_message(synced, message(2, "user", "y", BASE_MS, "L9"))
    assert not same_message(synced, message(2, "assistant", "x", BASE_MS, "L9"))


def test_settle_says_where_an_incoming_copy_stands() -> None:
    shared = [message(i, "user", f"m{i}", BASE_MS + i, f"L{i}") for i in range(3)]
    other = [*shared[:1], message(9, "user", "fork", BASE_MS + 9, "F")]
    paths = {"main": shared, "import-1": other}
    assert settle(paths, "main", shared[:2], later=True).present  # a prefix of main
    grown = settle(
        paths, "main", [*shared, message(5, "user", "new", BASE_MS + 5, "N")], later=False
    )
    assert (grown.prefix, grown.holder, grown.present) == (3, None, False)
    kept = settle(paths, "main", other, later=False)  # an earlier copy's tail, already kept
    assert (kept.prefix, kept.holder, kept.present) == (1, "import-1", True)
    assert not settle(paths, "main", other, later=True).present  # the later copy: make it active


# ---------------------------------------------------------------------------- cross-app copies


def chat(app: str, legacy: str, pairs: list[tuple[str, str]], start: int = 0) -> Conversation:
    messages = [
        Message(f"{legacy}-{i}", f"{legacy}-L{i}", role, content, BASE_MS + start + i)
        for i, (role, content) in enumerate(pairs)
    ]
    return Conversation(
        app, legacy, f"{app}-{legacy}", None, BASE_MS, BASE_MS, False, False, False, messages
    )


pair_lists = st.lists(
    st.tuples(st.sampled_from(["user", "assistant"]), texts), min_size=0, max_size=8
)


@given(pairs=pair_lists, extra=pair_lists, noise=pair_lists)
@settings(max_examples=150)
def test_cross_app_rule(
    pairs: list[tuple[str, str]], extra: list[tuple[str, str]], noise: list[tuple[str, str]]
) -> None:
    """A copy (>= 3 messages, equal to or a prefix of exactly one other) is merged; else listed."""
    copy = chat("zustand", "z", pairs)
    original = chat("navi", "n", pairs + extra, start=999)
    unrelated = chat("memory-loop", "u", [("system", "noise"), *noise])
    result = find_cross_app([copy, original, unrelated])
    if len(pairs) >= 3:
        if extra:
            assert result.merges == [(0, 1)]
        else:
            assert result.merges == [(1, 0)]  # equal twins: the later one goes into the earlier
    else:
        assert result.merges == []
        if pairs:
            assert any(index == 0 and 1 in others for index, others in result.possible)


@given(pairs=st.lists(st.tuples(st.just("user"), texts), min_size=3, max_size=6), tail=texts)
def test_cross_app_ambiguous_prefix_stays_separate(pairs: list[tuple[str, str]], tail: str) -> None:
    copy = chat("zustand", "z", pairs)
    first = chat("navi", "n1", [*pairs, ("assistant", tail)])
    second = chat("navi", "n2", [*pairs, ("assistant", tail + "!")])
    result = find_cross_app([copy, first, second])
    assert all(index != 0 for index, _ in result.merges)
    assert any(index == 0 and sorted(others) == [1, 2] for index, others in result.possible)

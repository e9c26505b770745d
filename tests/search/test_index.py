"""The search index against a real store: matching, ranking, filters, snippets, keeping up."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sidecar.search import SearchConfig
from sidecar.store import Store, ValidationFailed

from .conftest import STORE_CONFIG, Env, folded, highlighted, message_ids, open_env


async def add(env: Env, conversation_id: str, *contents: str, role: str = "user") -> list[str]:
    ids = []
    for content in contents:
        message, _ = await env.store.append_message(conversation_id, role=role, content=content)
        ids.append(message["id"])
    return ids


async def test_title_and_adjacent_words_rank_above_scattered_words(env: Env) -> None:
    await env.store.create_conversation(id="c1", title="notes")
    scattered, adjacent = await add(
        env,
        "c1",
        "install the tools first, then much later we will talk about python again",
        "first we install python, then the tools, and much later we will talk again",
    )
    await env.store.create_conversation(id="c2", title="Install Python on Windows")
    items = await env.search("install python")
    assert [(i["conversation_id"], i["message_id"]) for i in items] == [
        ("c2", None),
        ("c1", adjacent),
        ("c1", scattered),
    ]
    assert items[0]["snippet"] == "Install Python on Windows"
    assert highlighted(items[0]) == ["Install", "Python"]


async def test_case_and_accents_are_folded_both_ways(env: Env) -> None:
    await env.store.create_conversation(id="c1")
    precomposed, decomposed, plain = await add(
        env, "c1", "un CAFÉ crème", "un cafe\u0301 noir", "a cafe latte"
    )
    for query in ("cafe", "CAFÉ", "Café", "cafe\u0301"):
        assert set(message_ids(await env.search(query))) == {precomposed, decomposed, plain}
    assert message_ids(await env.search("CREME")) == [precomposed]


async def test_phrases_and_prefixes(env: Env) -> None:
    await env.store.create_conversation(id="c1")
    exact, reversed_, longer = await add(
        env, "c1", "the exact words here", "words exact, reversed", "an installation guide"
    )
    assert message_ids(await env.search('"exact words"')) == [exact]
    assert set(message_ids(await env.search("exact words"))) == {exact, reversed_}
    assert message_ids(await env.search("instal*")) == [longer]
    assert highlighted((await env.search("instal*"))[0]) == ["installation"]
    assert message_ids(await env.search('"an instal"*')) == [longer]
    assert message_ids(await env.search('"inst"')) == []
    # ... but the query's last bare word is a prefix too: it may be the word being typed
    assert message_ids(await env.search("inst")) == [longer]
    assert message_ids(await env.search("inst words")) == []
    # a prefix needs three letters: "in*" is the word "in"
    assert message_ids(await env.search("in*")) == []


async def test_query_syntax_is_never_an_error(env: Env) -> None:
    await env.store.create_conversation(id="c1")
    (mid,) = await add(env, "c1", "use AND or OR, NOT near(x) col:value {a b} ^start -minus")
    for query in (
        'AND OR NOT "',
        "NEAR(a b, 5)",
        "col:value",
        "{a b} : x",
        "^start",
        "-minus",
        "*",
        '""',
        '"unterminated phrase',
        "(((",
        "'; DROP TABLE msgs; --",
        "\U0001f600 emoji",
        "x" * 1000,
    ):
        result = await env.index.query(query)
        assert isinstance(result["items"], list), query
    assert message_ids(await env.search("near(x)")) == [mid]
    assert message_ids(await env.search("col:value")) == [mid]
    assert message_ids(await env.search("AND OR NOT")) == [mid]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   \n"}, "q"),
        ({"q": None}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"q": "x", "limit": 0}, "limit"),
        ({"q": "x", "limit": 101}, "limit"),
        ({"q": "x", "limit": True}, "limit"),
        ({"q": "x", "role": "robot"}, "role"),
        ({"q": "x", "conversation_id": "../etc"}, "conversation_id"),
        ({"q": "x", "archived": "yes"}, "archived"),
        ({"q": "x", "deleted": 1}, "deleted"),
        ({"q": "x", "created_from": "yesterday"}, "from"),
        ({"q": "x", "created_from": "2026-02-30"}, "from"),
        ({"q": "x", "created_to": "2026-01-01T25:00Z"}, "to"),
        ({"q": "x", "created_from": "2026-02-01", "created_to": "2026-01-01"}, "to"),
    ],
)
async def test_bad_arguments_name_their_field(
    env: Env, arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await env.index.query(**arguments)
    assert caught.value.field == field


async def test_filters(env: Env) -> None:
    await env.store.create_conversation(id="c1", title="apple talk")
    await env.store.create_conversation(id="c2")
    await env.store.create_conversation(id="c3")
    await env.store.create_conversation(id="c4")
    (user_1,) = await add(env, "c1", "apple pie")
    (bot_1,) = await add(env, "c1", "apple juice", role="assistant")
    (in_2,) = await add(env, "c2", "apple tree")
    (archived,) = await add(env, "c3", "apple archived")
    (trashed,) = await add(env, "c4", "apple trashed")
    await env.store.update_conversation("c3", {"archived": True})
    await env.store.delete_conversation("c4")

    def found(items: list[dict[str, object]]) -> set[object]:
        return {item["message_id"] for item in items}

    everything = {None, user_1, bot_1, in_2, archived}
    assert found(await env.search("apple")) == everything
    assert found(await env.search("apple", conversation_id="c1")) == {None, user_1, bot_1}
    assert found(await env.search("apple", conversation_id="nope")) == set()
    assert found(await env.search("apple", role="assistant")) == {bot_1}
    assert found(await env.search("apple", archived=False)) == everything - {archived}
    assert found(await env.search("apple", archived=True)) == {archived}
    assert found(await env.search("apple", deleted=True)) == {trashed}
    assert found(await env.search("apple", deleted=None)) == everything | {trashed}
    await env.store.restore_conversation("c4")
    assert trashed in found(await env.search("apple"))
    where = {"c1": [user_1, bot_1], "c2": [in_2], "c3": [archived], "c4": [trashed]}
    times = {
        mid: (await env.store.get_message(cid, mid))["created_at"]
        for cid, mids in where.items()
        for mid in mids
    }
    middle = times[in_2]
    assert found(await env.search("apple", created_from=middle, role="user")) == {
        mid for mid, at in times.items() if at >= middle and mid != bot_1
    }
    assert found(await env.search("apple", created_to=middle, role="user")) == {
        mid for mid, at in times.items() if at <= middle and mid != bot_1
    }
    assert found(await env.search("apple", created_to="2000-01-01")) == set()
    day = middle[:10]
    assert found(await env.search("apple", created_from=day, created_to=day)) == everything | {
        trashed
    }


async def test_snippets_are_plain_text_with_exact_unicode_highlights(env: Env) -> None:
    await env.store.create_conversation(id="c1", title="Ünïcödé title about Straße")
    long_text = (
        "Intro with emoji \U0001f600\U0001f600 and <b>markup</b> & stuff.\n\n"
        + "filler words here " * 30
        + "Then ZÜRICH café, naïve\tcoöperation with 日本語 text and more "
        + "filler words here " * 30
    )
    await add(env, "c1", long_text)
    items = await env.search("zurich CAFE naive cooperation")
    assert len(items) == 1
    snippet = items[0]["snippet"]
    assert "\n" not in snippet and "\t" not in snippet and "  " not in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert [folded(word) for word in highlighted(items[0])] == [
        "zurich",
        "cafe",
        "naive",
        "cooperation",
    ]
    items = await env.search("\U0001f600 markup stuff")
    assert items and all(folded(word) in {"markup", "stuff"} for word in highlighted(items[0]))
    assert items[0]["snippet"].count("<b>") == 1  # text as is: the client renders it as text
    title = await env.search("strasse unicode")
    assert title == []  # no transliteration: ß is not ss, ü is u
    title = await env.search("straße unicode")
    assert highlighted(title[0]) == ["Ünïcödé", "Straße"]


async def test_new_edited_and_streamed_messages_are_found(env: Env) -> None:
    await env.store.create_conversation(id="c1")
    (first,) = await add(env, "c1", "original wording")
    assert message_ids(await env.search("original")) == [first]
    await env.store.update_message("c1", first, content="replacement phrasing")
    assert message_ids(await env.search("original")) == []
    assert message_ids(await env.search("replacement")) == [first]

    reply, _ = await env.store.append_message(
        "c1", role="assistant", content="", status="streaming"
    )
    offset = 0
    for piece in ("streamed ", "answer ", "completes"):
        offset = await env.store.append_text("c1", reply["id"], offset, piece)
    assert message_ids(await env.search("completes")) == []  # deltas are not indexed
    await env.store.update_message("c1", reply["id"], status="complete")
    assert message_ids(await env.search("streamed answer completes")) == [reply["id"]]


async def test_rename_and_purge(env: Env) -> None:
    await env.store.create_conversation(id="c1", title="first title")
    await add(env, "c1", "some message")
    assert message_ids(await env.search("first")) == [None]
    await env.store.update_conversation("c1", {"title": "second name"})
    assert message_ids(await env.search("first")) == []
    assert message_ids(await env.search("second")) == [None]
    await env.store.purge_conversation("c1")
    assert await env.search("second") == []
    assert await env.search("message") == []


async def test_common_words_are_dropped_only_beside_rarer_ones(tmp_path: Path) -> None:
    env = await open_env(tmp_path / "data", SearchConfig(common_min_rows=4))
    try:
        await env.store.create_conversation(id="c1")
        ids = await add(env, "c1", *(f"the common word {i}" for i in range(9)), "rare alone")
        # "the" is in 9 of 10 messages (over a fifth): beside "rare" it is dropped ...
        assert message_ids(await env.search("the rare")) == [ids[-1]]
        # ... alone, or in a phrase, it still must match (newest first: bm25 cannot rank it)
        assert message_ids(await env.search("the")) == ids[8::-1]
        assert await env.search('"the rare"') == []
        assert message_ids(await env.search('"common word"')) == ids[8::-1]
    finally:
        await env.close()


async def test_a_common_word_being_typed_is_not_expanded_as_a_prefix(tmp_path: Path) -> None:
    env = await open_env(tmp_path / "data", SearchConfig(common_min_rows=4))
    try:
        await env.store.create_conversation(id="c1")
        ids = await add(env, "c1", *(f"the word {i}" for i in range(8)), "theatre", "rare")
        # "the" is common as a whole word: the last word stays that word, not "the*" ...
        assert message_ids(await env.search("the")) == ids[7::-1]
        # ... and, beside a rarer word, is dropped like any common word.
        assert message_ids(await env.search("rare the")) == [ids[-1]]
        # A word that is not common is a prefix while typed.
        assert message_ids(await env.search("theat")) == [ids[8]]
    finally:
        await env.close()


async def test_a_frequent_word_being_typed_stays_the_word_though_not_common(
    tmp_path: Path,
) -> None:
    config = SearchConfig(common_min_rows=4, common_fraction=0.5, typed_exact_fraction=0.25)
    env = await open_env(tmp_path / "data", config)
    try:
        await env.store.create_conversation(id="c1")
        texts = [*(f"pine cone {i}" for i in range(5)), "pineapple", *(f"x{i}" for i in range(6))]
        ids = await add(env, "c1", *texts)
        # "pine" is in 5 of 12 messages: over a quarter (frequent), under half (not common).
        assert set(message_ids(await env.search("pine"))) == set(ids[:5])
        assert set(message_ids(await env.search("cone pine"))) == set(ids[:5])
        assert message_ids(await env.search("pinea")) == [ids[5]]
    finally:
        await env.close()


async def test_restart_keeps_results_and_reconciles_missed_writes(tmp_path: Path) -> None:
    env = await open_env(tmp_path / "data")
    await env.store.create_conversation(id="c1", title="kept title")
    await env.store.create_conversation(id="c2", title="doomed")
    (kept,) = await add(env, "c1", "persistent words")
    before = await env.search("persistent")
    await env.close()

    # the index is absent while the store changes (another owner, or a crash before indexing)
    store = await Store.open(env.data_dir, STORE_CONFIG)
    late, _ = await store.append_message("c1", role="user", content="written while away")
    await store.update_conversation("c1", {"title": "renamed title"})
    await store.purge_conversation("c2")
    await store.close()

    await env.reopen()
    try:
        assert await env.search("persistent") == [
            {**hit, "conversation_title": "renamed title"} for hit in before
        ]
        assert message_ids(await env.search("away")) == [late["id"]]
        assert message_ids(await env.search("renamed")) == [None]
        assert await env.search("kept") == []
        assert await env.search("doomed") == []
        assert message_ids(await env.search("persistent")) == [kept]
    finally:
        await env.close()


async def test_damaged_index_is_quarantined_and_rebuilt(tmp_path: Path) -> None:
    env = await open_env(tmp_path / "data")
    await env.store.create_conversation(id="c1", title="survivor")
    (mid,) = await add(env, "c1", "rebuilt from the store")
    await env.search("rebuilt")
    await env.close()
    index_file = env.data_dir / "search" / "index.sqlite3"
    with index_file.open("r+b") as file:
        file.write(b"this is not a database header at all")

    await env.reopen()
    try:
        assert message_ids(await env.search("rebuilt")) == [mid]
        assert message_ids(await env.search("survivor")) == [None]
        slots = list((env.data_dir / "quarantine").glob("search-*"))
        assert len(slots) == 1
        assert (slots[0] / "search" / "index.sqlite3").read_bytes().startswith(b"this is not")
        assert "search-index" in (slots[0] / "reason.json").read_text()
        assert env.store.quarantined == []  # not a damaged conversation
    finally:
        await env.close()


async def test_a_fifo_in_place_of_the_index_is_quarantined_and_rebuilt(tmp_path: Path) -> None:
    """A non-regular file where the index belongs used to leave search answering 503 for good;
    it is damage like any other: moved aside unopened, the index rebuilt from the store."""
    env = await open_env(tmp_path / "data")
    await env.store.create_conversation(id="c1", title="survivor")
    (mid,) = await add(env, "c1", "rebuilt from the store")
    await env.close()
    index_file = env.data_dir / "search" / "index.sqlite3"
    index_file.unlink()
    os.mkfifo(index_file)

    await env.reopen()
    try:
        assert message_ids(await env.search("rebuilt")) == [mid]
        [slot] = list((env.data_dir / "quarantine").glob("search-*"))
        assert (slot / "search" / "index.sqlite3").is_fifo(), "moved, never opened or deleted"
        assert "not a regular file" in (slot / "reason.json").read_text()
    finally:
        await env.close()


async def test_damage_inside_the_file_is_found_and_rebuilt(tmp_path: Path) -> None:
    env = await open_env(tmp_path / "data")
    await env.store.create_conversation(id="c1")
    ids = await add(env, "c1", *(f"message number {i} " + "padding " * 200 for i in range(40)))
    await env.search("number")
    await env.close()
    index_file = env.data_dir / "search" / "index.sqlite3"
    data = bytearray(index_file.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    # pages past the small tables that opening reads: the check after start must find these
    for offset in range(12 * page, len(data) - page, 3 * page):
        data[offset : offset + 64] = b"\xff" * 64
    index_file.write_bytes(bytes(data))

    await env.reopen()
    try:
        await env.index.idle()
        assert env.index.rebuilds == 1
        assert set(message_ids(await env.search("number", limit=100))) == set(ids)
        assert list((env.data_dir / "quarantine").glob("search-*"))
    finally:
        await env.close()


async def test_outside_changes_are_reindexed(env: Env, tmp_path: Path) -> None:
    await env.store.create_conversation(id="c1")
    (mid,) = await add(env, "c1", "backed up text")
    await env.store.checkpoint()
    backup = tmp_path / "backup"
    folder = env.data_dir / "conversations" / "c1"
    shutil.copytree(folder, backup)
    await env.store.update_message("c1", mid, content="newer text")
    await env.store.checkpoint()
    assert message_ids(await env.search("backed")) == []
    shutil.rmtree(folder)
    shutil.copytree(backup, folder)  # a restore by another program
    assert await env.store.apply_external_changes({"c1"}) == ["c1"]
    assert message_ids(await env.search("backed")) == [mid]
    assert message_ids(await env.search("newer")) == []

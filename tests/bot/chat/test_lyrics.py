"""/lyrics end to end through discord.py and the fake Discord."""

import asyncio
import itertools
import re

import pytest

from bot.storage.store import Store
from tests.bot.web.test_web import fill_the_disk
from tests.model.fake_openai import FakeInference

NO_PINGS = {"parse": []}


def custom_ids(message: dict) -> list[str]:
    return [b["custom_id"] for row in message["components"] for b in row["components"]]


async def test_lyrics_defers_at_once_then_posts_the_song_without_pings(start_bot):
    h = await start_bot()
    token = await h.fake.command("lyrics", {"prompt": "We lit paper lanterns @everyone"})
    song = await h.song(token)
    calls = h.fake.calls_for(token)
    assert calls[0].method == "POST" and calls[0].body["type"] == 5  # deferred, "thinking"
    assert song["allowed_mentions"] == NO_PINGS
    embed = song["embeds"][0]
    assert embed["title"] == "We lit paper lanterns @everyone"
    assert embed["description"].startswith("We lit paper lanterns @everyone")
    assert len(embed["description"]) <= 1900
    assert embed["footer"]["text"].endswith("#1")
    assert [c.split(":")[1] for c in custom_ids(song)] == ["again", "vote", "vote"]
    row = await h.app.store.generation(1)
    assert (row.status, row.source, row.user_id, row.model_id) == (
        "ok", "discord", "1", h.app.default.worker.stats().model_id)
    assert row.output == embed["description"] and row.copied_words is not None
    assert all(c.body.get("allowed_mentions", NO_PINGS) == NO_PINGS for c in h.fake.calls
               if c.method in ("PATCH", "POST") and "webhooks" in c.path)


async def test_a_whole_song_comes_in_labelled_sections_and_again_keeps_the_form(start_bot,
                                                                              inference):
    # Lines that are always usable (words of letters alone, new each time): the tiny random
    # model's can all be refused three times running (junk, characters the artist never
    # writes), and the song then skips a section.
    inference.line = lambda i, song: " ".join(
        "".join(chr(97 + int(d)) for d in str(n)) + "o" for n in (song, i + 10, song * 7 + 3))
    h = await start_bot(SERVING_BACKEND="openai", INFERENCE_URL=inference.url)
    token = await h.fake.command("lyrics", {"prompt": "Harbor lights", "form": "song"})
    text = (await h.song(token))["embeds"][0]["description"]
    assert text.startswith("[Verse 1]\nHarbor lights") and text.count("[Chorus]") == 3
    assert (await h.app.store.generation(1)).form == "song"
    again = custom_ids(h.fake.messages[token])[0]
    await h.song(await h.fake.click(again, h.fake.messages[token]))
    assert (await h.app.store.generation(2)).form == "song"


@pytest.fixture
def inference():
    """An inference server that answers at once, for songs whose words do not matter (a song
    from the tiny model on transformers can take a minute on a loaded 2-core machine)."""
    fake = FakeInference().start()
    yield fake
    fake.close()


async def test_a_song_grows_in_edits_a_second_apart_then_gets_its_buttons(start_bot):
    # the tiny model, each line step waiting 100 ms for company: a song of several seconds
    h = await start_bot(BATCH_WINDOW_MS="100")
    token = await h.fake.command("lyrics", {"prompt": "Harbor lights", "form": "song"})
    song = await h.song(token)
    edits = [c for c in h.fake.calls_for(token) if c.method == "PATCH"]
    assert edits[-1].body == song
    drafts = [e.body for e in edits[:-1]]
    assert len(drafts) >= 2, [e.body for e in edits]
    assert min(b.at - a.at for a, b in itertools.pairwise(edits)) >= 1.0
    final = song["embeds"][0]["description"]
    for draft in drafts:
        assert "components" not in draft and draft["allowed_mentions"] == NO_PINGS
        assert draft["embeds"][0]["footer"]["text"] == "✍️ writing…"
        assert final.startswith(draft["embeds"][0]["description"])  # only ever grew
    texts = [d["embeds"][0]["description"] for d in drafts]
    assert texts == sorted(texts, key=len) and len(texts[0]) < len(final)
    assert texts[0].startswith("[Verse 1]\nHarbor lights")
    assert song["embeds"][0]["footer"]["text"].endswith("#1") and song["components"]
    async with h.app.store.db.execute("SELECT status, output FROM generations") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [("ok", final)]  # logged once


async def test_an_error_after_the_song_began_ends_in_the_error_reply(start_bot, inference):
    h = await start_bot(BATCH_WINDOW_MS="150", SERVING_BACKEND="openai",
                        INFERENCE_URL=inference.url)
    await fill_the_disk(h.app)  # the song is written, but cannot be logged at the end
    token = await h.fake.command("lyrics", {"prompt": "Harbor lights", "form": "song"})
    last = await h.fake.wait_for(lambda c: c.token == token and c.method == "PATCH"
                                 and "cannot save songs" in (c.body.get("content") or ""))
    edits = [c for c in h.fake.calls_for(token) if c.method == "PATCH"]
    assert edits[-1] == last and last.body["embeds"] == [] and last.body["components"] == []
    assert any(e.body.get("embeds") for e in edits[:-1])  # it had shown the song growing


async def test_bad_prompts_get_a_private_explanation_and_are_logged(start_bot):
    h = await start_bot()
    cases = {"   ": "empty", "x" * 300: "too long"}
    for prompt, words in cases.items():
        token = await h.fake.command("lyrics", {"prompt": prompt})
        answer = await h.reply(token)
        assert answer["type"] == 4 and answer["data"]["flags"] == 64
        assert words in answer["data"]["content"]
        assert answer["data"]["allowed_mentions"] == NO_PINGS
    token = await h.fake.command("lyrics", {"prompt": "hi", "album": "Nope"})
    assert "unknown album 'Nope'" in (await h.reply(token))["data"]["content"]
    rows = [await h.app.store.generation(i) for i in (1, 2, 3)]
    assert [r.status for r in rows] == ["rejected"] * 3


async def test_refusals_are_rate_limited_like_requests(start_bot):
    h = await start_bot(COOLDOWN_SECONDS="600")
    first = await h.reply(await h.fake.command("lyrics", {"prompt": "x" * 5000}))
    assert "too long" in first["data"]["content"]
    again = await h.reply(await h.fake.command("lyrics", {"prompt": "x" * 5000}))
    assert again["data"]["flags"] == 64 and "slow down" in again["data"]["content"]
    assert (await h.song(await h.fake.command("lyrics", {"prompt": "fixed it"})))["embeds"]
    rows = [await h.app.store.generation(i) for i in (1, 2)]
    assert [(r.status, len(r.prompt)) for r in rows] == [("rejected", 300), ("ok", 8)]


async def test_control_and_bidi_characters_are_stripped_from_prompts(start_bot):
    h = await start_bot()
    token = await h.fake.command("lyrics", {"prompt": "\u202eevil\u0007  line\u200b here"})
    song = await h.song(token)
    assert song["embeds"][0]["title"] == "evil line here"
    assert (await h.app.store.generation(1)).prompt == "evil line here"


async def test_cooldown_answers_privately_with_when_to_retry(start_bot):
    h = await start_bot(COOLDOWN_SECONDS="600")
    await h.song(await h.fake.command("lyrics", {"prompt": "first"}))
    answer = await h.reply(await h.fake.command("lyrics", {"prompt": "second"}))
    wait = re.search(r"ask again in (\d+) s", answer["data"]["content"])
    assert answer["data"]["flags"] == 64 and wait and 540 <= int(wait.group(1)) <= 600
    other = await h.fake.command("lyrics", {"prompt": "another user"}, user_id=2)
    assert (await h.song(other))["embeds"]


async def test_a_full_queue_answers_busy_and_is_logged(start_bot):
    h = await start_bot(start_worker=False, QUEUE_SIZE="1")
    first = await h.fake.command("lyrics", {"prompt": "first"})
    await h.fake.wait_for(lambda c: c.token == first and c.body.get("type") == 5)
    answer = await h.reply(await h.fake.command("lyrics", {"prompt": "second"}, user_id=2))
    assert answer["data"]["flags"] == 64 and "busy" in answer["data"]["content"]
    assert (await h.app.store.generation(1)).status == "busy"
    h.app.default.worker.start()
    assert (await h.song(first))["embeds"]


async def test_waiting_requests_see_their_queue_position(start_bot):
    h = await start_bot(start_worker=False)
    first = await h.fake.command("lyrics", {"prompt": "first"})
    second = await h.fake.command("lyrics", {"prompt": "second"}, user_id=2)
    shown = await h.fake.wait_for(lambda c: c.token == second and c.method == "PATCH")
    assert shown.body["content"] == "⏳ In the queue: #2"
    h.app.default.worker.start()
    assert (await h.song(first))["embeds"] and (await h.song(second))["embeds"]


async def test_votes_are_one_per_user_and_changeable(start_bot):
    h = await start_bot()
    token = await h.fake.command("lyrics", {"prompt": "vote on me"})
    await h.song(token)
    message = h.fake.messages[token]
    up, down = custom_ids(message)[1:]

    async def click(custom_id, user_id):
        click_token = await h.fake.click(custom_id, message, user_id=user_id)
        answer = await h.reply(click_token)
        assert answer["type"] == 7  # the message is updated in place
        return [b["label"] for b in answer["data"]["components"][0]["components"]]

    assert await click(up, 1) == ["Again", "1", "0"]
    assert await click(up, 1) == ["Again", "1", "0"]  # the same vote twice counts once
    assert await click(down, 1) == ["Again", "0", "1"]  # changed
    assert await click(up, 2) == ["Again", "1", "1"]
    async with h.app.store.db.execute(
            "SELECT user_id, value FROM votes ORDER BY user_id") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [("1", -1), ("2", 1)]


async def test_again_writes_a_new_song_with_the_same_settings(start_bot):
    h = await start_bot()
    token = await h.fake.command("lyrics", {"prompt": "once more", "lines": 3,
                                            "temperature": 0.5})
    await h.song(token)
    again = await h.fake.click(custom_ids(h.fake.messages[token])[0], h.fake.messages[token])
    song = await h.song(again)
    assert song["embeds"][0]["footer"]["text"].endswith("#2")
    second = await h.app.store.generation(2)
    assert (second.prompt, second.lines, second.temperature) == ("once more", 3, 0.5)


async def test_buttons_keep_working_after_a_restart(start_bot):
    h = await start_bot()
    token = await h.fake.command("lyrics", {"prompt": "survive a restart"})
    await h.song(token)
    message = h.fake.messages[token]
    await h.app.close(timeout=10)
    await h.bot.close()

    restarted = await start_bot()
    click = await restarted.fake.click(custom_ids(message)[1], message, user_id=5)
    answer = await restarted.reply(click)
    assert answer["type"] == 7
    assert (await restarted.app.store.votes(1)).up == 1
    syncs = [c for c in h.fake.calls if c.method == "PUT" and c.path.endswith("/commands")]
    assert len(syncs) == 1  # unchanged definitions are not synced again on restart
    assert {c["name"] for c in syncs[0].body} == {"lyrics", "history", "status", "retrain",
                                                 "reload", "artist", "settings",
                                                 "Write a song from this"}


async def test_history_is_private_and_lists_only_your_songs(start_bot):
    h = await start_bot()
    await h.song(await h.fake.command("lyrics", {"prompt": "mine one"}))
    await h.song(await h.fake.command("lyrics", {"prompt": "not mine"}, user_id=2))
    await h.song(await h.fake.command("lyrics", {"prompt": "mine two"}))
    answer = await h.reply(await h.fake.command("history", {"count": 5}))
    assert answer["data"]["flags"] == 64
    fields = answer["data"]["embeds"][0]["fields"]
    assert [f["value"].split("\n")[0] for f in fields] == ["**mine two**", "**mine one**"]


async def test_status_shows_the_base_model_and_todays_count(start_bot, tiny_base):
    h = await start_bot()
    await h.song(await h.fake.command("lyrics", {"prompt": "count me"}))
    answer = await h.reply(await h.fake.command("status"))
    fields = {f["name"]: f["value"] for f in answer["data"]["embeds"][0]["fields"]}
    assert "not fine-tuned" in fields["Model"] and f"`{tiny_base.name}`" in fields["Model"]
    assert str(tiny_base) not in fields["Model"]  # a name, never a path
    assert fields["Songs today"] == "1" and fields["Queue"] == "0"
    assert fields["Latency (last hour)"].startswith("p50 ")


async def test_shutdown_finishes_a_song_in_flight(start_bot, tmp_path):
    h = await start_bot(start_worker=False)
    token = await h.fake.command("lyrics", {"prompt": "finish me"})
    await h.fake.wait_for(lambda c: c.token == token and c.body.get("type") == 5)
    closing = asyncio.create_task(h.app.close(timeout=30))
    await asyncio.sleep(0)  # let close() stop intake first: the song is then truly in flight
    h.app.default.worker.start()
    await closing
    assert (await h.song(token))["embeds"]
    store = await Store.open(tmp_path / "home" / "swiftai.db")
    assert (await store.generation(1)).status == "ok"
    await store.close()
    await h.bot.close()


async def test_shutdown_tells_people_left_in_the_queue_to_come_back_and_logs_them(start_bot,
                                                                                  tmp_path):
    h = await start_bot(start_worker=False)  # no worker: nothing can finish in time
    tokens = [await h.fake.command("lyrics", {"prompt": f"queued {i}"}, user_id=i)
              for i in (1, 2)]
    for token in tokens:
        await h.fake.wait_for(lambda c, t=token: c.token == t and c.body.get("type") == 5)
    await h.app.close(timeout=0.2)
    for token in tokens:
        told = await h.fake.wait_for(lambda c, t=token: c.token == t and c.method == "PATCH"
                                     and "shutting down" in (c.body.get("content") or ""))
        assert "try again in a minute" in told.body["content"]
    store = await Store.open(tmp_path / "home" / "swiftai.db")
    assert [(await store.generation(i)).status for i in (1, 2)] == ["error", "error"]
    await store.close()
    await h.bot.close()

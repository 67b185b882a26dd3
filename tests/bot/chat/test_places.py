"""Where people are: /lyrics, /history and the message menu from a user's own install, in a
server without the app, a DM and a group DM; admin commands only in servers that added it."""

from __future__ import annotations

import pytest

from bot.chat.rooms import PRIVATE_NOTE
from tests.bot.chat.test_lyrics import NO_PINGS, custom_ids, inference  # noqa: F401 (a fixture)
from tests.bot.fake_discord import (
    DM_ID,
    GROUP_DM_ID,
    STRANGER_GUILD_ID,
    USE_EXTERNAL_APPS,
)

GUILD, BOT_DM, PRIVATE_CHANNEL = 0, 1, 2


async def offered(h, name: str, kind: int = 1) -> dict:
    """Return a command as the bot registered it with Discord (which delivers it only in the
    install types and contexts it declares)."""
    synced = await h.fake.wait_for(lambda c: c.method == "PUT" and c.path.endswith("/commands"))
    return next(c for c in synced.body if c["name"] == name and c.get("type", 1) == kind)


@pytest.fixture
def quick(start_bot, inference):  # noqa: F811
    """Start the bot on an inference server that answers at once."""
    return lambda **env: start_bot(SERVING_BACKEND="openai", INFERENCE_URL=inference.url, **env)


async def test_lyrics_history_and_the_menu_install_anywhere_admin_commands_in_servers(quick):
    h = await quick()
    for name, kind in (("lyrics", 1), ("history", 1), ("Write a song from this", 3)):
        command = await offered(h, name, kind)
        assert sorted(command["integration_types"]) == [0, 1], name
        assert sorted(command["contexts"]) == [GUILD, BOT_DM, PRIVATE_CHANNEL], name
    for name in ("retrain", "reload", "artist", "settings"):
        command = await offered(h, name)
        assert (command["integration_types"], command["contexts"]) == ([0], [GUILD]), name


@pytest.mark.parametrize(("place", "context", "guild", "channel"), [
    ("stranger", GUILD, str(STRANGER_GUILD_ID), str(3000 + STRANGER_GUILD_ID)),
    ("dm", BOT_DM, None, str(DM_ID)),
    ("group", PRIVATE_CHANNEL, None, str(GROUP_DM_ID)),
])
async def test_a_user_install_writes_songs_in_a_place_without_the_app(quick, place, context,
                                                                      guild, channel):
    h = await quick()
    for name in ("lyrics", "history"):  # else Discord would not offer it there
        command = await offered(h, name)
        assert 1 in command["integration_types"] and context in command["contexts"]
    token = await h.fake.command("lyrics", {"prompt": "Harbor lights"}, place=place,
                                 permissions=USE_EXTERNAL_APPS)
    song = await h.song(token)
    defer = h.fake.calls_for(token)[0].body
    assert defer["type"] == 5 and not (defer.get("data") or {}).get("flags")  # for everyone
    assert song.get("content") is None and song["allowed_mentions"] == NO_PINGS
    row = await h.app.store.generation(1)
    assert (row.status, row.user_id, row.guild_id, row.channel_id) == ("ok", "1", guild,
                                                                       channel)
    again = await h.fake.click(custom_ids(song)[0], h.fake.messages[token], place=place)
    await h.song(again)
    assert (await h.app.store.generation(2)).prompt == "Harbor lights"
    history = await h.reply(await h.fake.command("history", place=place))
    fields = history["data"]["embeds"][0]["fields"]
    assert history["data"]["flags"] == 64 and [f["name"][:2] for f in fields] == ["#2", "#1"]


async def test_where_the_server_forbids_external_apps_the_reply_says_only_you_see_it(quick):
    h = await quick()
    token = await h.fake.command("lyrics", {"prompt": "Harbor lights"}, place="stranger",
                                 permissions=0)  # no Use External Apps here
    song = await h.song(token)
    assert h.fake.calls_for(token)[0].body["data"]["flags"] == 64  # deferred privately
    assert song["content"] == PRIVATE_NOTE and "\n" not in PRIVATE_NOTE
    assert song["embeds"][0]["description"].startswith("Harbor lights")


async def test_in_a_server_that_added_the_app_the_song_is_public_without_the_note(quick):
    h = await quick()
    token = await h.fake.command("lyrics", {"prompt": "Harbor lights"}, permissions=0)
    song = await h.song(token)
    assert not (h.fake.calls_for(token)[0].body.get("data") or {}).get("flags")
    assert song.get("content") is None


@pytest.mark.parametrize("place", ["guild", "dm"])
async def test_write_a_song_from_a_message_takes_its_words_only(quick, place):
    h = await quick()
    assert (await offered(h, "Write a song from this", 3))["type"] == 3
    token = await h.fake.message_command(
        "Write a song from this",
        "<@123> look at **the harbor** lights https://example.com/x <:wave:99>\nsecond line",
        place=place)
    song = await h.song(token)
    assert song["embeds"][0]["title"] == "look at the harbor lights"
    assert song["embeds"][0]["description"].startswith("look at the harbor lights")
    assert [c.split(":")[1] for c in custom_ids(song)] == ["again", "vote", "vote"]
    row = await h.app.store.generation(1)
    assert (row.status, row.prompt) == ("ok", "look at the harbor lights")


async def test_a_message_with_no_words_gets_one_private_line(quick):
    h = await quick()
    token = await h.fake.message_command("Write a song from this", "<@123> https://x.y/z")
    answer = await h.reply(token)
    assert answer["data"]["flags"] == 64
    assert answer["data"]["content"] == "that message has no words to write a song from"


async def test_admin_commands_refuse_a_user_install_outside_servers(quick):
    h = await quick()
    answer = await h.reply(await h.fake.command("settings", {"explicit": True}, place="dm",
                                                user_id=42))
    assert answer["data"]["flags"] == 64 and "\n" not in answer["data"]["content"]
    assert "server" in answer["data"]["content"]

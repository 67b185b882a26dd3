"""Lyrics fit for the room, on Discord: explicit lines only in age-restricted channels of servers
that allow them (/settings), slurs never; the log keeps that a line was filtered, not the word.

The words come from the word list itself (bot/service/words.py): no test spells one."""

from __future__ import annotations

import pytest

from bot.service.words import EXPLICIT, entries, marked_slur, words
from tests.bot.chat.test_lyrics import inference  # noqa: F401 (a fixture)
from tests.bot.conftest import ADMIN_ID
from tests.bot.fake_discord import GUILD_ID

RUDE = next(w for w in entries() if " " not in w and words().judge(w) == EXPLICIT)
SLUR = next(w for w in entries() if marked_slur(w))
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def lines_with(word: str):
    """The fake's candidates, all of one shape: the likeliest holds `word`, the others are
    clean."""
    def line(i: int, song: int) -> str:
        return f"{word if i == 0 else 'soft'} rain on the {LETTERS[song % 26]} {LETTERS[i]}"
    return line


@pytest.fixture
def quick(start_bot, inference):  # noqa: F811
    async def start(word: str):
        inference.line = lines_with(word)
        return await start_bot(SERVING_BACKEND="openai", INFERENCE_URL=inference.url)
    return start


async def song_text(h, **where) -> str:
    token = await h.fake.command("lyrics", {"prompt": "Harbor lights"}, **where)
    return (await h.song(token))["embeds"][0]["description"]


async def logged_options(h) -> list[str]:
    async with h.app.store.db.execute("SELECT text FROM candidates") as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def test_outside_age_restricted_channels_explicit_lines_are_never_kept(quick):
    h = await quick(RUDE)
    for where in ({}, {"nsfw": True}, {"place": "dm"}):  # nsfw, but the server never allowed it
        text = await song_text(h, **where)
        assert RUDE not in text.lower() and "soft rain" in text, where
    row = await h.app.store.generation(1)
    assert row.filtered >= 1
    options = await logged_options(h)
    assert "(explicit line filtered)" in options
    assert not any(RUDE in o.lower() for o in options)  # the log says filtered, not the word


async def test_a_server_may_allow_explicit_lyrics_in_its_age_restricted_channels_only(quick):
    h = await quick(RUDE)
    token = await h.fake.command("settings", {"explicit": True}, user_id=ADMIN_ID)
    assert "allowed in this server's age-restricted channels" in \
        (await h.reply(token))["data"]["content"]
    assert RUDE in (await song_text(h, nsfw=True)).lower()
    assert RUDE not in (await song_text(h)).lower()  # the same server, a channel for everyone


async def test_a_slur_is_never_kept_even_where_explicit_lyrics_are_allowed(quick):
    h = await quick(SLUR)
    await h.reply(await h.fake.command("settings", {"explicit": True}, user_id=ADMIN_ID))
    text = await song_text(h, nsfw=True)
    assert SLUR not in text.lower() and "soft rain" in text
    assert "(slur line filtered)" in await logged_options(h)


async def test_a_prompt_with_a_slur_is_refused_in_one_line_and_not_logged(quick):
    h = await quick(RUDE)
    token = await h.fake.command("lyrics", {"prompt": f"Harbor {SLUR} lights"}, nsfw=True)
    answer = (await h.reply(token))["data"]
    assert answer["flags"] == 64 and "\n" not in answer["content"]
    assert "slurs" in answer["content"]
    row = await h.app.store.generation(1)
    assert (row.status, row.prompt) == ("rejected", "(slur prompt)")


async def test_only_admins_change_the_setting(quick):
    h = await quick(RUDE)
    token = await h.fake.command("settings", {"explicit": True}, user_id=5)
    assert "only admins" in (await h.reply(token))["data"]["content"]
    assert await h.app.store.explicit_allowed(str(GUILD_ID)) is False

"""Sharding: the bot is an AutoShardedBot; SHARD_COUNT / SHARD_IDS split shards over processes."""

import pytest

from bot.errors import CannotStart
from bot.storage.lock import hold_home, release_home
from swiftai.settings import ConfigError, Settings
from tests.bot.fake_discord import GUILD_ID, OTHER_GUILD_ID


async def test_two_recommended_shards_each_answer_lyrics_for_their_guilds(start_bot):
    h = await start_bot(shards=2)
    assert sorted(h.fake.identified) == [[0, 2], [1, 2]]
    assert h.bot.shard_count == 2
    for number, guild in enumerate((GUILD_ID, OTHER_GUILD_ID), 1):
        token = await h.fake.command("lyrics", {"prompt": f"guild {guild}"}, guild_id=guild)
        assert (await h.song(token))["embeds"][0]["description"].startswith(f"guild {guild}")
        assert (await h.app.store.generation(number)).guild_id == str(guild)


async def test_shard_ids_split_the_shards_between_two_bots(start_bot):
    first = await start_bot(SHARD_COUNT="2", SHARD_IDS="0")
    second = await start_bot(SHARD_COUNT="2", SHARD_IDS="1")
    assert first.fake.identified == [[0, 2], [1, 2]]
    assert first.bot.shards.keys() == {0} and second.bot.shards.keys() == {1}
    served = []
    for guild, bot in ((GUILD_ID, first), (OTHER_GUILD_ID, second)):
        token = await bot.fake.command("lyrics", {"prompt": "which shard"}, guild_id=guild)
        await bot.song(token)
        served.append([b.app.default.worker.stats().served for b in (first, second)])
    # Each bot's own worker wrote its guild's verse (a worker request a line), the other none.
    (first_alone, second_idle), (first_after, second_after) = served
    assert first_alone >= 1 and second_idle == 0
    assert first_after == first_alone and second_after >= 1


def test_shard_settings_are_checked():
    with pytest.raises(ConfigError, match="SHARD_IDS needs SHARD_COUNT"):
        Settings.from_env({"SHARD_IDS": "0"})
    with pytest.raises(ConfigError, match="SHARD_IDS must be below SHARD_COUNT=2"):
        Settings.from_env({"SHARD_COUNT": "2", "SHARD_IDS": "1,2"})
    settings = Settings.from_env({"SHARD_COUNT": "4", "SHARD_IDS": "3, 1"})
    assert settings.shard_count == 4 and settings.shard_ids == (1, 3)


def test_processes_for_different_shards_share_a_home_and_no_others_do(tmp_path):
    a = hold_home(tmp_path, (0, 1))
    b = hold_home(tmp_path, (2, 3))  # other shards: welcome on the same home
    with pytest.raises(CannotStart, match=r"another SwiftAI bot \(pid \d+\)"):
        hold_home(tmp_path, (0, 1))  # the same shards twice
    with pytest.raises(CannotStart, match="another SwiftAI bot"):
        hold_home(tmp_path)  # an unsharded bot beside sharded ones
    for fd in a + b:
        release_home(fd)
    alone = hold_home(tmp_path)
    with pytest.raises(CannotStart):
        hold_home(tmp_path, (0,))
    for fd in alone:
        release_home(fd)

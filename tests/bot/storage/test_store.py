"""The store and its migrations, on real SQLite files."""

import aiosqlite
import pytest

from bot.storage.store import MIGRATIONS, Store, migrate, migration_files


async def columns(db, table):
    async with db.execute(f"PRAGMA table_info({table})") as cursor:
        return [row[1] for row in await cursor.fetchall()]


async def test_migrations_build_an_empty_database(tmp_path):
    store = await Store.open(tmp_path / "new.db")
    async with store.db.execute("PRAGMA user_version") as cursor:
        assert (await cursor.fetchone())[0] == migration_files()[-1][0] == 6
    assert {"copied_words", "artist", "run_id", "filtered"} <= set(
        await columns(store.db, "generations"))
    assert await columns(store.db, "guild_settings") == ["guild_id", "explicit", "set_by",
                                                         "set_at"]
    assert await columns(store.db, "guild_artists") == ["guild_id", "artist", "set_by", "set_at"]
    assert await columns(store.db, "votes") == ["generation_id", "user_id", "value", "voted_at"]
    assert {"perplexity_after", "artist"} <= set(await columns(store.db, "retrains"))
    async with store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"
    await store.close()


async def test_migrations_upgrade_an_existing_database_and_keep_its_rows(tmp_path):
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:
        assert await migrate(db, MIGRATIONS, target=1) == [1]
        await db.execute("INSERT INTO generations (source, user_id, prompt, status) "
                         "VALUES ('discord', '1', 'kept', 'ok')")
        await db.commit()
    store = await Store.open(path)
    kept = await store.generation(1)
    assert kept.prompt == "kept" and kept.form == "verse"  # 0003 gave old rows the old form
    assert await store.start_retrain("1", refresh=False) == 1
    assert await migrate(store.db) == []  # nothing left to apply
    await store.close()


async def test_rows_from_before_artists_get_the_artist_whose_run_wrote_them(tmp_path):
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path) as db:
        await migrate(db, MIGRATIONS, target=3)
        for model_id in ("run-a", "run-b", "gpt2"):
            await db.execute("INSERT INTO generations (source, user_id, prompt, status, model_id)"
                             " VALUES ('web', 'u', 'p', 'ok', ?)", (model_id,))
        await db.commit()
    store = await Store.open(path)
    assert store.migrated == (4, 5, 6)  # 0004 gave rows artists; 0005 added the candidate log
    assert await store.attribute_old_rows({"run-a": "A", "run-b": "B"}, "A") == 3
    rows = [await store.generation(i) for i in (1, 2, 3)]
    assert [(r.artist, r.run_id) for r in rows] == [("A", "run-a"), ("B", "run-b"), ("A", None)]
    new = await store.record_generation(source="web", user_id="u", prompt="p", status="ok",
                                        artist="B", run_id=None, model_id="run-a")
    assert await store.attribute_old_rows({"run-a": "A"}, "A") == 0  # new rows keep theirs
    assert (await store.generation(new)).artist == "B"
    await store.close()


async def test_a_servers_default_artist_is_stored_and_replaced(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    assert await store.guild_artist("g1") is None
    await store.set_guild_artist("g1", "Juniper Vale", "42")
    await store.set_guild_artist("g2", "Marlow Keys", "42")
    await store.set_guild_artist("g1", "Marlow Keys", "43")
    assert (await store.guild_artist("g1"), await store.guild_artist("g2")) == \
        ("Marlow Keys", "Marlow Keys")
    await store.close()
    reopened = await Store.open(tmp_path / "db.sqlite")
    assert await reopened.guild_artist("g1") == "Marlow Keys" and reopened.migrated == ()
    await reopened.close()


async def test_explicit_lyrics_are_off_until_a_servers_admin_allows_them(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    assert await store.explicit_allowed("g1") is False
    await store.allow_explicit("g1", True, "42")
    await store.allow_explicit("g2", True, "42")
    await store.allow_explicit("g2", False, "43")
    await store.close()
    reopened = await Store.open(tmp_path / "db.sqlite")
    assert (await reopened.explicit_allowed("g1"), await reopened.explicit_allowed("g2")) == \
        (True, False)
    await reopened.close()


async def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_broken.sql").write_text("CREATE TABLE b (x INTEGER);\nNOT SQL AT ALL;")
    async with aiosqlite.connect(tmp_path / "db.sqlite") as db:
        with pytest.raises(aiosqlite.OperationalError):
            await migrate(db, folder)
        async with db.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == 1
        async with db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
            assert [r[0] for r in await cursor.fetchall()] == ["a"]


async def test_votes_are_upserted_and_counted(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    gen = await store.record_generation(source="web", user_id="u", prompt="p", status="ok")
    assert await store.vote(gen, "a", 1) == (await store.votes(gen))
    await store.vote(gen, "b", 1)
    votes = await store.vote(gen, "a", -1)
    assert (votes.up, votes.down) == (1, 1)
    await store.close()


async def test_forgetting_a_user_deletes_their_songs_and_votes_only(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    mine = await store.record_generation(source="discord", user_id="me", prompt="a", status="ok")
    theirs = await store.record_generation(source="discord", user_id="you", prompt="b",
                                           status="ok")
    await store.vote(theirs, "me", 1)
    await store.vote(mine, "you", 1)
    assert await store.forget_user("me") == (1, 1)
    assert await store.generation(mine) is None
    assert (await store.votes(theirs)).up == 0 and await store.generation(theirs)
    async with store.db.execute("SELECT COUNT(*) FROM votes") as cursor:
        assert (await cursor.fetchone())[0] == 0  # the vote on my song went with it
    await store.close()


async def test_unknown_fields_never_reach_the_sql(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    with pytest.raises(ValueError, match="unknown generation fields"):
        await store.record_generation(source="web", user_id="u", prompt="p", status="ok",
                                      **{"x) VALUES (1); DROP TABLE votes; --": 1})
    await store.close()


async def test_text_that_is_not_utf8_is_stored_escaped_not_lost(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    gen = await store.record_generation(source="web", user_id="u", prompt="bad \ud800 text",
                                        status="rejected")
    assert (await store.generation(gen)).prompt == "bad \\ud800 text"
    await store.close()

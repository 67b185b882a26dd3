"""The candidate log: every ranking step of a logged song, bounded by compaction."""

from __future__ import annotations

import asyncio
import json
import math

import aiosqlite
import pytest

from bot.storage.retention import compact_once, cutoff
from bot.storage.store import COMPACT_BATCH, Store, StoreUnavailable
from model.writing.ranking import FEATURES, Option, RankStep
from swiftai.settings import Settings
from tests.bot.conftest import call, open_app


def features(**values: float) -> dict[str, float]:
    return {"likelihood": -2.0, "width": 0.1, "rhyme": 0.0, "drift": 0.0, "copied": 0.0,
            **values}


SONG_STEPS = (
    RankStep("Verse 1", 1, (Option("by the water", features(rhyme=1.0)),
                            Option("in the night", features(likelihood=-math.inf))), kept=0),
    RankStep("Verse 1", 2, (Option("we were young", features()),
                            Option("all along", features(rhyme=0.5)),
                            Option("a song", features(width=0.9))), kept=1),
    RankStep("Chorus", 0, (Option("lost", features()),), kept=-1),  # none was usable
)


async def rows(db: aiosqlite.Connection, generation_id: int | None = None) -> list[tuple]:
    where = "" if generation_id is None else f"WHERE generation_id = {int(generation_id)}"
    async with db.execute(f"SELECT generation_id, step, section, line, option, text, features, "
                          f"kept FROM candidates {where} ORDER BY id") as cursor:
        return [tuple(r) for r in await cursor.fetchall()]


async def song(store: Store, steps=SONG_STEPS, **fields) -> int:
    return await store.record_generation(source="web", user_id="u", prompt="p", status="ok",
                                         output="text", steps=steps, **fields)


async def test_every_option_of_every_step_is_logged_with_its_features_and_which_was_kept(
        tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    gen = await song(store)
    logged = await rows(store.db, gen)
    assert [(step, section, line, option, text, kept)
            for _, step, section, line, option, text, _, kept in logged] == [
        (0, "Verse 1", 1, 0, "by the water", 1), (0, "Verse 1", 1, 1, "in the night", 0),
        (1, "Verse 1", 2, 0, "we were young", 0), (1, "Verse 1", 2, 1, "all along", 1),
        (1, "Verse 1", 2, 2, "a song", 0), (2, "Chorus", 0, 0, "lost", 0)]
    assert json.loads(logged[0][6]) == features(rhyme=1.0)
    # -inf is not JSON: a feature that is not a finite number is stored as null
    assert json.loads(logged[1][6])["likelihood"] is None
    await store.close()


async def test_a_verse_logs_its_one_step_with_null_section_and_line(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    step = RankStep(None, None, (Option("a\nb", features()), Option("c\nd", features())), 1)
    gen = await song(store, steps=(step,))
    assert [(s, sec, line, o, kept) for _, s, sec, line, o, _, _, kept in
            await rows(store.db, gen)] == [(0, None, None, 0, 0), (0, None, None, 1, 1)]
    await store.close()


async def test_a_song_is_never_logged_without_its_candidates(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    # A real SQLite failure on the candidates' insert only (as a full disk could make it).
    await store.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON candidates "
                           "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    await store.db.commit()
    with pytest.raises(StoreUnavailable, match="full"):
        await song(store)
    async with store.db.execute("SELECT COUNT(*) FROM generations") as cursor:
        assert (await cursor.fetchone())[0] == 0  # the song's row went back with them
    with pytest.raises(StoreUnavailable):
        await store.check()  # /healthz says so until a write succeeds
    await store.db.execute("DROP TRIGGER refuse")
    assert await song(store) == 1
    await store.check()
    await store.close()


async def test_compaction_keeps_only_the_kept_option_of_songs_older_than_the_cutoff(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    old = await song(store, created_at="2026-01-01T00:00:00.000Z")
    new = await song(store, created_at="2026-06-01T00:00:00.000Z")
    before = await rows(store.db, new)
    assert await store.compact_candidates("2026-03-01T00:00:00.000Z") == 4
    assert [(step, option, text) for _, step, _, _, option, text, _, _ in
            await rows(store.db, old)] == [(0, 0, "by the water"), (1, 1, "all along")]
    assert await rows(store.db, new) == before  # within its retention: untouched
    assert await store.compact_candidates("2026-03-01T00:00:00.000Z") == 0  # idempotent
    await store.close()


async def test_compaction_deletes_in_batches_until_every_old_loser_is_gone(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    many = tuple(RankStep("Verse 1", i, tuple(Option(f"line {i} {o}", features())
                                              for o in range(40)), kept=0)
                 for i in range(COMPACT_BATCH // 20))  # two batches and a half of losers
    old = await song(store, steps=many, created_at="2026-01-01T00:00:00.000Z")
    deleted = await store.compact_candidates("2026-02-01T00:00:00.000Z")
    assert deleted == len(many) * 39
    assert len(await rows(store.db, old)) == len(many)  # one kept row per step
    await store.close()


async def test_forgetting_a_user_deletes_the_candidates_of_their_songs(tmp_path):
    store = await Store.open(tmp_path / "db.sqlite")
    await song(store)
    kept = await store.record_generation(source="web", user_id="other", prompt="p",
                                         status="ok", steps=SONG_STEPS)
    await store.forget_user("u")
    assert {r[0] for r in await rows(store.db)} == {kept}
    await store.close()


def test_the_cutoff_is_written_the_way_the_log_writes_times():
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 22, 0, 5, 123456, tzinfo=UTC)
    assert cutoff(30, now) == "2026-11-01T22:00:05.123Z"


async def test_the_bot_compacts_old_candidates_when_it_starts(tmp_path, tiny_base):
    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")
    old = await song(store, created_at="2000-01-01T00:00:00.000Z")
    fresh = await song(store)
    await store.close()
    settings = Settings.from_env({"SWIFTAI_HOME": str(home), "BASE_MODEL": str(tiny_base),
                                  "CANDIDATE_RETENTION_DAYS": "7"})
    app = await open_app(settings, start_worker=True)
    try:
        for _ in range(100):
            if len(await rows(app.store.db, old)) == 2:
                break
            await asyncio.sleep(0.05)
        assert [r[5] for r in await rows(app.store.db, old)] == ["by the water", "all along"]
        assert len(await rows(app.store.db, fresh)) == 6
        assert await compact_once(app.store, 7) == 0  # nothing left to do
    finally:
        await app.close(timeout=10)


async def test_a_song_written_through_the_web_logs_the_candidates_its_ranking_weighed(
        serve_web):
    base, app = await serve_web(CANDIDATES="3")
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": "Paper lanterns", "lines": 4})
    assert status == 200
    (shown,) = data["songs"]
    logged = await rows(app.store.db, shown["id"])
    # A verse is written line by line: one ranking a written line, in section "Verse".
    assert len(logged) >= 3 * 3 and {r[2] for r in logged} == {"Verse"}
    kept = [r for r in logged if r[7]]
    assert [r[3] for r in kept] == [1, 2, 3]  # the line after the listener's, and on
    assert [r[5] for r in kept] == shown["text"].split("\n")[1:]  # the lines shown
    assert set(json.loads(kept[0][6])) == set(FEATURES)



async def test_a_failed_write_among_concurrent_ones_loses_only_itself_and_says_why(tmp_path):
    # Songs finishing in one batch log together on the one connection. A write the database
    # refuses rolls back its own transaction only, not the rows of songs logged beside it,
    # and its error keeps its reason.
    store = await Store.open(tmp_path / "db.sqlite")

    async def refused():
        with pytest.raises(StoreUnavailable, match="CHECK constraint failed"):
            await store.record_generation(source="web", user_id="u", prompt="p",
                                          status="not a status", steps=SONG_STEPS)

    try:
        ids = await asyncio.gather(*(song(store) for _ in range(5)), refused(),
                                   *(song(store) for _ in range(5)))
        ids = [i for i in ids if i is not None]
        assert len(set(ids)) == 10
        for gen in ids:
            assert [row[4] for row in await rows(store.db, gen)] == [0, 1, 0, 1, 2, 0]
        assert {r[0] for r in await rows(store.db)} == set(ids)
    finally:
        await store.close()  # its thread would keep the test process alive

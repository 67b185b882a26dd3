"""`python -m bot feedback`: the voted songs as the feedback file, run as a user runs it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import aiosqlite

from bot.storage.lock import hold_home, release_home
from bot.storage.store import MIGRATIONS, Store, migrate
from model.writing.ranking import Option, RankStep
from tests.conftest import run_cli

ARTIST = "Juniper Vale"


def features(**values: float) -> dict[str, float]:
    return {"likelihood": -2.0, "width": 0.2, "rhyme": 0.0, "drift": 0.0, "copied": 0.0,
            **values}


LINES = (
    RankStep("Verse 1", 1, (Option("by the water", features(rhyme=1.0, likelihood=-1.0)),
                            Option("in the night", features(likelihood=-math.inf))), kept=0),
    RankStep("Verse 1", 2, (Option("lost", features()),), kept=-1),  # none was usable
    RankStep("Verse 1", 2, (Option("we were young", features()),
                            Option("all along", features(rhyme=0.5, likelihood=-3.0))), kept=1),
)


async def song(store: Store, user: str = "writer", steps=LINES, artist: str = ARTIST,
               **fields) -> int:
    return await store.record_generation(source="discord", user_id=user, prompt="First line",
                                         status="ok", output="First line\nby the water",
                                         form="song", steps=steps, artist=artist, **fields)


def export(home: Path, out: Path, *extra: str):
    return run_cli("bot", "feedback", "--artist", ARTIST, "--out", str(out), *extra,
                   env={"SWIFTAI_HOME": str(home)})


def read(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


async def test_each_voted_shown_song_is_a_row_with_its_label_features_and_steps(tmp_path):
    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")
    liked, disliked, tied, unvoted = [await song(store) for _ in range(4)]
    other = await song(store, artist="Marlow Reyes", run_id="run-mr")  # another artist's song
    await store.vote(other, "a", 1)
    refused = await store.record_generation(source="web", user_id="w", prompt="x",
                                            status="rejected")
    for voter, value in (("a", 1), ("b", 1), ("c", -1)):
        await store.vote(liked, voter, value)
    await store.vote(disliked, "a", -1)
    await store.vote(tied, "a", 1)
    await store.vote(tied, "b", -1)
    await store.vote(refused, "a", 1)  # not a song: never exported
    await store.close()
    done = export(home, tmp_path / "feedback.jsonl")
    assert done.returncode == 0, done.stderr
    assert "2 voted songs of Juniper Vale" in done.stdout and "1 liked" in done.stdout
    assert "1 disliked" in done.stdout and "left out: 1 ties" in done.stdout
    rows = read(tmp_path / "feedback.jsonl")
    assert [(r["generation_id"], r["label"], r["up"], r["down"]) for r in rows] == [
        (liked, True, 2, 1), (disliked, False, 0, 1)]
    first = rows[0]
    assert {k: first[k] for k in ("artist", "run_id", "prompt", "completion", "form")} == {
        "artist": ARTIST, "run_id": None, "prompt": "First line",
        "completion": "First line\nby the water", "form": "song"}
    # the mean over the two kept lines; the step that kept none does not count
    assert first["features"] == {"likelihood": -2.0, "width": 0.2, "rhyme": 0.75, "drift": 0.0,
                                 "copied": 0.0}
    # the step that kept none, and the loser whose likelihood was -inf, are left out
    assert [(s["section"], s["line"], s["kept"], [o["text"] for o in s["options"]])
            for s in first["steps"]] == [("Verse 1", 1, 0, ["by the water"]),
                                         ("Verse 1", 2, 1, ["we were young", "all along"])]
    assert first["steps"][1]["options"][1]["features"] == features(rhyme=0.5, likelihood=-3.0)
    assert unvoted not in {r["generation_id"] for r in rows}


async def test_a_forgotten_users_votes_never_reach_the_feedback_file(tmp_path):
    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")
    theirs, other = await song(store), await song(store, user="someone")
    await store.vote(theirs, "forgotten", 1)
    await store.vote(other, "forgotten", 1)
    await store.vote(other, "stays", -1)
    await store.vote(other, "stays-too", -1)
    await store.close()
    stale = home / "feedback" / "juniper-vale.jsonl"
    assert export(home, stale).returncode == 0
    assert len(read(stale)) == 2
    done = run_cli("bot", "forget", "forgotten", env={"SWIFTAI_HOME": str(home)})
    assert done.returncode == 0 and "and 1 feedback files made before" in done.stdout
    assert not stale.exists()  # a file made with their votes is gone too
    assert export(home, tmp_path / "after.jsonl").returncode == 0
    assert [(r["generation_id"], r["up"], r["down"]) for r in read(tmp_path / "after.jsonl")] \
        == [(other, 0, 2)]


async def test_a_compacted_song_exports_only_its_kept_options(tmp_path):
    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")
    old = await song(store, created_at="2000-01-01T00:00:00.000Z")
    await store.vote(old, "a", 1)
    await store.compact_candidates("2001-01-01T00:00:00.000Z")
    await store.close()
    assert export(home, tmp_path / "f.jsonl").returncode == 0
    (row,) = read(tmp_path / "f.jsonl")
    assert [(s["kept"], [o["text"] for o in s["options"]]) for s in row["steps"]] == [
        (0, ["by the water"]), (0, ["all along"])]
    assert row["features"]["rhyme"] == 0.75  # what the song showed is kept


async def test_the_training_side_reads_every_exported_row(tmp_path):
    from training.feedback.votes import read_votes

    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")
    for value in (1, -1, 1):
        await store.vote(await song(store), "a", value)
    await store.close()
    assert export(home, tmp_path / "f.jsonl").returncode == 0
    votes = read_votes(tmp_path / "f.jsonl", ARTIST)
    assert (len(votes.rows), votes.liked, votes.skipped) == (3, 2, [])


async def test_a_song_logged_before_candidates_were_is_left_out_and_counted(tmp_path):
    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")
    await store.vote(await song(store, steps=()), "a", -1)
    await store.close()
    done = export(home, tmp_path / "f.jsonl")
    assert "1 logged without candidates" in done.stdout
    assert read(tmp_path / "f.jsonl") == []


async def test_the_export_runs_beside_a_running_bot_and_never_writes_its_database(tmp_path):
    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")  # the bot's own connection stays open
    await store.vote(await song(store), "a", 1)
    locks = hold_home(home)  # and it holds bot.lock, as a running bot does
    try:
        out = tmp_path / "f.jsonl"
        out.write_text("old\n")
        before = (home / "swiftai.db").stat().st_mtime_ns
        done = export(home, out)
        assert done.returncode == 0, done.stderr
        assert len(read(out)) == 1  # replaced whole
        assert (home / "swiftai.db").stat().st_mtime_ns == before
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.jsonl")] == []
        await store.vote(await song(store), "b", 1)  # the bot keeps writing meanwhile
    finally:
        for fd in locks:
            release_home(fd)
        await store.close()


async def test_a_database_from_before_the_candidate_log_is_one_clear_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    async with aiosqlite.connect(home / "swiftai.db") as db:
        await migrate(db, MIGRATIONS, target=3)
    done = export(home, tmp_path / "f.jsonl")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "schema version 3" in done.stderr and "python -m bot migrate" in done.stderr
    assert not (tmp_path / "f.jsonl").exists()


def test_no_database_or_an_unwritable_file_is_one_clear_line(tmp_path):
    done = export(tmp_path / "nowhere", tmp_path / "f.jsonl")
    assert done.returncode == 1 and done.stderr.startswith("error: no database at ")
    assert "Traceback" not in done.stderr


async def test_an_unwritable_output_is_one_clear_line(tmp_path):
    home = tmp_path / "home"
    store = await Store.open(home / "swiftai.db")
    await store.close()
    blocked = tmp_path / "a-file"  # a folder that is a file (root may write anywhere else)
    blocked.write_text("")
    done = export(home, blocked / "f.jsonl")
    assert done.returncode == 1 and done.stderr.startswith(f"error: cannot write {blocked}")
    assert "Traceback" not in done.stderr

"""Genius going away mid-fetch: the fetch gives up in bounded time, keeps its songs, resumes."""

import json
import time
from dataclasses import replace

import pytest

from tests.conftest import run_cli
from tests.training.data.test_genius import ARTIST, FAST, cli_env, fetch, lyrics_path
from tests.training.fake_genius import FakeGenius, FakeSong, Fault
from training.data.genius import GeniusUnreachable
from training.data.song_cache import SongCache

GONE_AFTER_TWO = ("Genius is unreachable (connection refused, 3 songs in a row); "
                  "2 of 8 songs stored, run fetch again to resume")


@pytest.fixture
def songs(example_songs):
    return [FakeSong.from_export(s) for s in example_songs[:8]]


@pytest.fixture
def genius(songs):
    with FakeGenius(ARTIST, songs) as fake:
        yield fake


def stop_after(genius, song):
    """Make Genius go away as it answers `song`'s last request: it is stored, the rest refused."""
    genius.fail(f"/api/songs/{song.id}", Fault(stop=True))


def test_genius_going_away_ends_the_fetch_after_three_songs(genius, songs, tmp_path):
    stop_after(genius, songs[1])
    started = time.monotonic()
    with pytest.raises(GeniusUnreachable) as raised:
        fetch(genius, tmp_path)
    elapsed = time.monotonic() - started
    assert str(raised.value) == GONE_AFTER_TWO
    stored = {s.title for s in SongCache(tmp_path / "raw").songs()}
    assert stored == {songs[0].title, songs[1].title}
    assert elapsed < 5, elapsed  # 3 songs x 3 quick retries, not 6 songs' worth


def test_a_fetch_after_genius_came_back_asks_only_for_what_is_missing(genius, songs, tmp_path):
    stop_after(genius, songs[1])
    with pytest.raises(GeniusUnreachable):
        fetch(genius, tmp_path)
    with FakeGenius(ARTIST, songs) as back:
        cache, report = fetch(back, tmp_path)
        assert (len(report.new), len(report.cached), report.failed) == (6, 2, [])
        assert back.count(lyrics_path(songs[0])) == 0
        assert back.count(f"/api/artists/{back.artist_id}/songs") == 0  # listing kept
    assert len(cache.songs()) == 8


# A timeout long enough for a loaded CI machine to answer the songs that are not stuck.
STUCK = replace(FAST, retries=1, timeout=0.5, give_up_songs=2)


def test_songs_that_time_out_in_a_row_end_the_fetch(genius, songs, tmp_path):
    for song in songs[2:]:
        genius.fail(lyrics_path(song), *[Fault(delay=3)] * 2)
    with pytest.raises(GeniusUnreachable, match=r"^Genius is unreachable \(timed out on every "
                       r"try, 2 songs in a row\); 2 of 8 songs stored"):
        fetch(genius, tmp_path, STUCK)


def test_a_silent_genius_is_given_up_on_after_give_up_after_seconds(genius, songs, tmp_path):
    for song in songs:
        genius.fail(lyrics_path(song), *[Fault(delay=5)] * 6)
    options = replace(FAST, retries=5, backoff=0.05, timeout=0.5, give_up_songs=100,
                      give_up_after=1.0)
    started = time.monotonic()
    with pytest.raises(GeniusUnreachable, match=r"^Genius is unreachable \(timed out on every "
                       r"try, no answer for 1 s\); 0 of 8 songs stored"):
        fetch(genius, tmp_path, options)
    elapsed = time.monotonic() - started
    # No retry begins past give_up_after of silence: the stop comes at most one timeout later.
    assert 1.0 <= elapsed < 1.0 + 0.5 + 1.0, elapsed
    assert genius.count(lyrics_path(songs[0])) < 6  # its retries were cut short
    assert genius.count(lyrics_path(songs[1])) == 0


def test_a_wait_genius_asked_for_is_not_counted_as_silence(genius, songs, tmp_path):
    genius.fail(lyrics_path(songs[2]), Fault(429, "slow down", {"Retry-After": "1"}, stop=True))
    with pytest.raises(GeniusUnreachable, match=r"\(connection refused, 3 songs in a row\)"):
        fetch(genius, tmp_path, replace(FAST, give_up_after=0.8))  # not "no answer for 1 s"


def test_a_song_that_loads_resets_the_count(genius, songs, tmp_path):
    for song in [songs[0], songs[2]]:  # two stuck songs, but not in a row
        genius.fail(lyrics_path(song), *[Fault(delay=3)] * 2)
    cache, report = fetch(genius, tmp_path, STUCK)
    assert [reason for _, reason in report.failed] == ["timed out on every try"] * 2
    assert len(cache.songs()) == 6


def test_pages_that_are_gone_or_empty_never_end_the_fetch(genius, songs, tmp_path):
    for song in songs[:3]:
        genius.fail(lyrics_path(song), Fault(404, "<html><body>Page not found</body></html>"))
    for song in songs[3:5]:
        genius.fail(lyrics_path(song), Fault(200, "<html><body>Sorry!</body></html>"))
    cache, report = fetch(genius, tmp_path, replace(FAST, give_up_songs=1))
    assert [reason for _, reason in report.failed] == (["HTTP 404: page not found"] * 3
                                                       + ["the page has no lyrics on it"] * 2)
    assert len(cache.songs()) == 3


def test_fetch_cli_says_genius_is_unreachable_in_one_line_and_exits_1(genius, songs, tmp_path):
    stop_after(genius, songs[1])
    result = run_cli("training", "fetch", "--artist", ARTIST, "--retries", "1", "--backoff",
                     "0.01", "--quiet", env=cli_env(genius, tmp_path / "home"), timeout=60)
    assert result.returncode == 1
    *lost, verdict = result.stderr.splitlines()
    assert verdict == f"error: {GONE_AFTER_TWO}"
    assert [line.rsplit(": ", 1)[1] for line in lost] == ["connection refused"] * 3  # no retry logs


def test_run_stops_at_fetch_with_the_error_the_bot_shows(genius, songs, tmp_path):
    home = tmp_path / "home"
    stop_after(genius, songs[1])
    started = time.monotonic()
    result = run_cli("training", "run", "--progress", "json", "--artist", ARTIST, "--retries",
                     "1", "--backoff", "0.01", env=cli_env(genius, home), timeout=60)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 30
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[-1] == {"stage": "error", "message": GONE_AFTER_TWO}
    assert [r["stage"] for r in records if r.get("event") == "start"] == ["fetch"]
    assert not (home / "models").exists()  # nothing trained, nothing published, for anyone

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from itertools import pairwise

import pytest

from tests.conftest import ROOT
from tests.training.fake_genius import FakeGenius, FakeSong, Fault
from training.data.cleaning import clean_lyrics
from training.data.genius import FetchOptions, fetch_artist, make_client
from training.data.song_cache import SongCache
from training.errors import TrainingError

ARTIST = "Juniper Vale"
FAST = FetchOptions(retries=3, backoff=0.01, max_wait=2, timeout=1, sleep_time=0)


@pytest.fixture
def fake_songs(example_songs):
    songs = [FakeSong.from_export(s) for s in example_songs[:7]]
    return [
        *songs,
        FakeSong(id=1, title="Harbor Lights (Booklet)", lyrics="Thanks to everyone " * 30),
        FakeSong(id=2, title="Porchlight Hum", lyrics="Mm " * 50, instrumental=True),
        FakeSong(id=3, title="Someone Else's Song", lyrics="la " * 50, primary_artist_id=77),
    ]


@pytest.fixture
def genius(fake_songs):
    with FakeGenius(ARTIST, fake_songs) as fake:
        yield fake


def fetch(genius, tmp_path, options=FAST):
    client = make_client("test-token", options, genius.base_url)
    cache = SongCache(tmp_path / "raw")
    return cache, fetch_artist(client, cache, ARTIST, options, progress=False)


def lyrics_path(song):
    return "/" + song.path


def test_full_download_caches_every_song_with_details(genius, fake_songs, tmp_path):
    cache, report = fetch(genius, tmp_path)
    assert len(report.new) == 7 and not report.failed
    assert sorted(r for _, r in report.skipped) == [
        "a feature on another artist's song", "instrumental", "not a song: title says 'booklet'"]
    songs = {s.id: s for s in cache.songs()}
    first = songs[f"genius-{fake_songs[0].id}"]
    assert (first.title, first.album, first.release_date, first.url) == (
        "Paper Lanterns", "Harbor Lights", "2019-03-08", fake_songs[0].url)
    assert first.lyrics.startswith("[Verse 1]\nWe lit paper lanterns")
    assert genius.count(f"/api/artists/{genius.artist_id}/songs") == 2  # 10 songs, 5 a page


def test_second_run_fetches_only_what_is_missing(genius, fake_songs, tmp_path):
    fetch(genius, tmp_path)
    (tmp_path / "raw" / "songs" / f"genius-{fake_songs[2].id}.json").unlink()
    _, report = fetch(genius, tmp_path)
    assert (len(report.new), len(report.cached)) == (1, 6)
    assert genius.count(lyrics_path(fake_songs[2])) == 2
    assert genius.count(lyrics_path(fake_songs[0])) == 1
    assert genius.count(f"/api/artists/{genius.artist_id}/songs") == 2  # listing reused


def test_refresh_lists_the_artist_again_and_gets_new_songs(genius, tmp_path, example_songs):
    fetch(genius, tmp_path)
    extra = example_songs[8]
    genius.songs[extra["id"]] = FakeSong.from_export(extra)
    _, report = fetch(genius, tmp_path, replace(FAST, refresh=True))
    assert report.new == [extra["title"]] and len(report.cached) == 7


def gaps(genius, path):
    """Seconds between consecutive requests for `path`, as the fake Genius saw them arrive."""
    return [later - earlier for earlier, later in pairwise(genius.times(path))]


def closed_port_url():
    """A loopback address where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_first_retry_waits_the_backoff_and_the_next_twice_as_long(genius, fake_songs, tmp_path):
    path = f"/api/songs/{fake_songs[1].id}"
    genius.fail(path, Fault(500), Fault(403, "<html>Just a moment...</html>"))
    _, report = fetch(genius, tmp_path, replace(FAST, backoff=0.2))
    first, second = gaps(genius, path)
    assert first >= 0.2 and second >= 0.4  # b, then 2b, each plus jitter of up to b
    assert not report.failed


def test_a_long_backoff_is_capped_at_max_wait(genius, fake_songs, tmp_path):
    path = f"/api/songs/{fake_songs[1].id}"
    genius.fail(path, Fault(503))
    _, report = fetch(genius, tmp_path, replace(FAST, backoff=30, max_wait=0.3))
    [gap] = gaps(genius, path)
    assert 0.3 <= gap < 3  # uncapped it would be at least 30 s
    assert not report.failed


def test_429_with_retry_after_is_waited_out(genius, fake_songs, tmp_path):
    path = lyrics_path(fake_songs[0])
    genius.fail(path, Fault(429, "slow down", {"Retry-After": "1"}))
    cache, report = fetch(genius, tmp_path)
    [gap] = gaps(genius, path)
    assert gap >= 1.0  # our backoff is 0.01 s: the wait is Retry-After's
    assert not report.failed and len(cache.songs()) == 7


def test_a_long_retry_after_is_capped_at_max_wait(genius, fake_songs, tmp_path):
    path = lyrics_path(fake_songs[0])
    genius.fail(path, Fault(429, "slow down", {"Retry-After": "3600"}))
    _, report = fetch(genius, tmp_path, replace(FAST, max_wait=0.3))
    [gap] = gaps(genius, path)
    assert 0.3 <= gap < 3
    assert not report.failed


def test_a_refused_connection_is_retried_after_the_backoff_too(tmp_path):
    options = replace(FAST, retries=2, backoff=0.2)
    client = make_client("t", options, closed_port_url())
    started = time.monotonic()
    with pytest.raises(TrainingError,
                       match="could not look up 'Juniper Vale' on Genius: connection refused"):
        fetch_artist(client, SongCache(tmp_path / "raw"), ARTIST, options, progress=False)
    assert time.monotonic() - started >= 0.2 + 0.4


def test_server_errors_are_retried_until_success(genius, fake_songs, tmp_path):
    path = f"/api/songs/{fake_songs[1].id}"
    genius.fail(path, Fault(500), Fault(503))
    cache, report = fetch(genius, tmp_path)
    assert not report.failed and genius.count(path) == 3 and len(cache.songs()) == 7


def test_persistent_errors_name_the_song_and_store_nothing_for_it(genius, fake_songs, tmp_path):
    genius.fail(f"/api/songs/{fake_songs[1].id}", *[Fault(500)] * 4)
    genius.fail(lyrics_path(fake_songs[2]), *[Fault(403, "<html>Just a moment...</html>")] * 4)
    cache, report = fetch(genius, tmp_path)
    assert sorted(report.failed) == sorted([(fake_songs[1].title, "HTTP 500 on every try"),
                                            (fake_songs[2].title, "HTTP 403 on every try")])
    assert len(cache.songs()) == 5
    assert not cache.has(f"genius-{fake_songs[1].id}")
    assert not cache.has(f"genius-{fake_songs[2].id}")


def test_slow_responses_past_the_timeout_are_retried(genius, fake_songs, tmp_path):
    path = lyrics_path(fake_songs[3])
    genius.fail(path, Fault(delay=1.5))
    cache, report = fetch(genius, tmp_path)
    assert not report.failed and genius.count(path) == 2 and len(cache.songs()) == 7


def test_always_slow_song_fails_as_timed_out(genius, fake_songs, tmp_path):
    genius.fail(lyrics_path(fake_songs[3]), *[Fault(delay=1.5)] * 4)
    cache, report = fetch(genius, tmp_path)
    assert report.failed == [(fake_songs[3].title, "timed out on every try")]
    assert len(cache.songs()) == 6


def test_a_200_that_is_not_json_fails_the_song(genius, fake_songs, tmp_path):
    genius.fail(f"/api/songs/{fake_songs[4].id}", Fault(200, "<html>maintenance</html>"))
    cache, report = fetch(genius, tmp_path)
    assert report.failed == [(fake_songs[4].title, "Genius answered with a page that is not JSON")]
    assert len(cache.songs()) == 6


def test_a_lyrics_page_without_lyrics_is_never_stored_empty(genius, fake_songs, tmp_path):
    genius.fail(lyrics_path(fake_songs[5]), Fault(200, "<html><body>Sorry!</body></html>"))
    cache, report = fetch(genius, tmp_path)
    assert report.failed == [(fake_songs[5].title, "the page has no lyrics on it")]
    assert all(s.lyrics.strip() for s in cache.songs()) and len(cache.songs()) == 6


def test_a_lyrics_page_that_is_gone_is_reported_as_not_found(genius, fake_songs, tmp_path):
    path = lyrics_path(fake_songs[5])
    genius.fail(path, Fault(404, "<html><body>Oops! Page not found</body></html>"))
    cache, report = fetch(genius, tmp_path)
    assert report.failed == [(fake_songs[5].title, "HTTP 404: page not found")]
    assert genius.count(path) == 1  # a 404 is an answer, not worth retrying
    assert len(cache.songs()) == 6


def test_a_song_gone_from_the_api_is_reported_as_not_found(genius, fake_songs, tmp_path):
    genius.fail(f"/api/songs/{fake_songs[4].id}", Fault(404, '{"meta": {"status": 404}}'))
    cache, report = fetch(genius, tmp_path)
    assert report.failed == [(fake_songs[4].title, "HTTP 404: page not found")]
    assert len(cache.songs()) == 6


def test_unknown_artist_is_a_clear_error(genius, tmp_path):
    client = make_client("t", FAST, genius.base_url)
    with pytest.raises(TrainingError, match="no artist called 'Nobody' on Genius"):
        fetch_artist(client, SongCache(tmp_path / "raw"), "Nobody", FAST, progress=False)


def cli_env(genius, home):
    return {**os.environ, "PYTHONPATH": str(ROOT), "SWIFTAI_HOME": str(home),
            "GENIUS_ACCESS_TOKEN": "test-token", "GENIUS_BASE_URL": genius.base_url}


def take_ctrl_c() -> None:
    """Let the child hear Ctrl-C as a terminal user's fetch does.

    A shell without job control starts background commands with SIGINT ignored, and Python keeps
    an inherited "ignore": under `.ci/run &` the fetch would never hear the test's SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupted_fetch_keeps_what_it_fetched_and_resumes(genius, fake_songs, tmp_path):
    home = tmp_path / "home"
    stuck = lyrics_path(fake_songs[3])
    genius.fail(stuck, Fault(delay=30))
    proc = subprocess.Popen(
        [sys.executable, "-m", "training", "fetch", "--artist", ARTIST, "--timeout", "60",
         "--quiet"], env=cli_env(genius, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=take_ctrl_c)
    deadline = time.monotonic() + 60
    while genius.count(stuck) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    cache = SongCache(home / "data" / "raw" / "juniper-vale")
    assert len(cache.songs()) == 3  # the three before the stuck one, each complete
    assert [p.name for p in cache.songs_dir.iterdir() if not p.name.endswith(".json")] == []

    done = subprocess.run([sys.executable, "-m", "training", "fetch", "--artist", ARTIST,
                           "--quiet"], env=cli_env(genius, home), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "4 new, 3 cached, 0 failed, 3 skipped as non-songs" in done.stdout
    assert genius.count(lyrics_path(fake_songs[0])) == 1


def test_fetch_without_a_token_says_where_to_get_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SWIFTAI_HOME": str(tmp_path)}
    env.pop("GENIUS_ACCESS_TOKEN", None)
    result = subprocess.run([sys.executable, "-m", "training", "fetch"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: GENIUS_ACCESS_TOKEN is not set")
    assert "Traceback" not in result.stderr


def test_failed_songs_make_the_cli_exit_non_zero_and_name_them(genius, fake_songs, tmp_path):
    genius.fail(f"/api/songs/{fake_songs[1].id}", *[Fault(502)] * 10)
    result = subprocess.run(
        [sys.executable, "-m", "training", "fetch", "--artist", ARTIST, "--retries", "1",
         "--backoff", "0.01", "--quiet"], env=cli_env(genius, tmp_path / "home"),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"failed: {fake_songs[1].title}: HTTP 502 on every try" in result.stderr
    assert "6 new, 0 cached, 1 failed, 3 skipped as non-songs" in result.stdout


def test_scraped_pages_clean_to_the_same_lyrics_as_their_source(genius, fake_songs, tmp_path):
    cache, _ = fetch(genius, tmp_path)
    scraped = {s.id: s.lyrics for s in cache.songs()}
    assert any("You might also like" in text for text in scraped.values())  # the junk is there
    for song in fake_songs[:7]:
        assert clean_lyrics(scraped[f"genius-{song.id}"]) == clean_lyrics(song.lyrics)

"""The second example artist stays shaped like a real catalogue (figures measured on one: 7.2 words
a line, p90 10-11, end rhymes in 12% of lines, about 50 lines a song, a chorus in 98% of songs), so
that song-mode figures measured on it mean something. These fail if an edit makes it toy-like."""

import json

import pytest

from model.lyrics.style import has_recurring_block, lyric_lines
from tests.conftest import EXAMPLE_EXPORT, SECOND_EXPORT
from training.data.corpus import build_corpus, write_corpus
from training.data.lyric_files import read_export

ARTIST = "Marlow Reyes"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    songs = read_export(SECOND_EXPORT)
    out = tmp_path_factory.mktemp("corpus") / "marlow-reyes"
    return write_corpus(build_corpus(songs), out, ARTIST, raw_count=len(songs))


def test_the_second_example_is_one_artist_across_albums():
    songs = read_export(SECOND_EXPORT)
    assert len(songs) >= 32
    assert {s.artist for s in songs} == {ARTIST}
    assert 3 <= len({s.album for s in songs}) <= 4
    assert all(s.release_date and s.id.startswith("genius-") for s in songs)


def test_no_song_of_the_second_example_is_dropped_or_merged(manifest):
    assert (manifest["counts"]["dropped"], manifest["counts"]["merged"]) == (0, 0)
    assert manifest["counts"]["train"] + manifest["counts"]["val"] == manifest["counts"]["raw"]


@pytest.mark.parametrize(("figure", "low", "high"), [
    ("words_per_line", 6.5, 8.0),
    ("words_per_line_p90", 9.0, 12.0),
    ("rhyme_rate", 0.10, 0.20),
    ("lines_per_song", 40.0, 55.0),
    ("recurring_block_rate", 1.0, 1.0),
    ("header_rate", 1.0, 1.0),
])
def test_the_second_example_has_real_catalogue_figures(manifest, figure, low, high):
    assert low <= manifest["style"][figure] <= high


def test_every_song_of_the_second_example_is_long_with_a_recurring_chorus():
    for song in read_export(SECOND_EXPORT):
        assert 40 <= len(lyric_lines(song.lyrics)) <= 60, song.title
        assert "[Chorus]" in song.lyrics and has_recurring_block(song.lyrics), song.title


def test_the_second_example_has_the_first_ones_export_fields():
    first, second = (json.loads(path.read_text(encoding="utf-8"))
                     for path in (EXAMPLE_EXPORT, SECOND_EXPORT))
    assert second.keys() == first.keys()
    assert all(song.keys() == first["songs"][0].keys() for song in second["songs"])

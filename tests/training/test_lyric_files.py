import json

import pytest

from swiftai.settings import Settings
from tests.conftest import EXAMPLE_EXPORT
from training.errors import TrainingError
from training.lyric_files import import_songs, read_export, read_songs
from training.songs import SongCache


def test_artist_export_is_read_with_its_details():
    songs = read_export(EXAMPLE_EXPORT)
    assert len(songs) == 12
    first = songs[0]
    assert (first.id, first.title, first.artist, first.album, first.release_date) == (
        "genius-7000", "Paper Lanterns", "Juniper Vale", "Harbor Lights", "2019-03-08")
    assert first.lyrics.startswith("[Verse 1]\nWe lit paper lanterns")
    assert first.source == "import:Lyrics_JuniperVale.json"


def test_album_export_takes_album_and_artist_from_the_top(tmp_path):
    body = {"name": "Static Bloom", "artist": "Juniper Vale", "release_date": "2021-10-22",
            "tracks": [{"number": 1, "song": {"id": 5, "title": "Porchlight", "lyrics": "la la"}},
                       {"number": 2, "song": {"title": "No Id Song", "lyrics": "da da"}}]}
    path = tmp_path / "Lyrics_StaticBloom.json"
    path.write_text(json.dumps(body))
    songs = read_export(path)
    assert [(s.id[:4], s.title, s.artist, s.album, s.release_date) for s in songs] == [
        ("geni", "Porchlight", "Juniper Vale", "Static Bloom", "2021-10-22"),
        ("txt-", "No Id Song", "Juniper Vale", "Static Bloom", "2021-10-22")]


def test_txt_folder_is_read_one_song_per_file(tmp_path):
    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "01 - Paper Lanterns.txt").write_text("We lit paper lanterns\n", encoding="utf-8")
    (folder / "Porchlight.txt").write_bytes(b"\xef\xbb\xbfI leave the porchlight on\n")
    songs = read_songs([folder], artist=None, default_artist="Juniper Vale", album="Harbor")
    assert [(s.title, s.artist, s.album, s.lyrics) for s in songs] == [
        ("Paper Lanterns", "Juniper Vale", "Harbor", "We lit paper lanterns\n"),
        ("Porchlight", "Juniper Vale", "Harbor", "I leave the porchlight on\n")]


def test_non_utf8_text_is_a_clear_error(tmp_path):
    path = tmp_path / "Latin1.txt"
    path.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(TrainingError, match=r"Latin1\.txt is not UTF-8"):
        read_songs([path], None, "A")


def test_malformed_json_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"songs": [')
    with pytest.raises(TrainingError, match=r"broken\.json is not valid JSON"):
        read_export(path)


def test_json_that_is_not_an_export_is_a_clear_error(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(TrainingError, match="not a lyricsgenius export"):
        read_export(path)


def test_songs_without_lyrics_are_skipped_and_reported(tmp_path):
    settings = Settings.from_env({"SWIFTAI_HOME": str(tmp_path)})
    songs = read_export(EXAMPLE_EXPORT)
    empty = songs[0].__class__(**{**songs[0].__dict__, "id": "genius-1", "lyrics": "  \n"})
    report = import_songs([*songs, empty], lambda a: SongCache(settings.raw_dir(a)))
    assert len(report.imported) == 12
    assert report.skipped == [("Paper Lanterns", "no lyrics")]
    cached = SongCache(settings.raw_dir("Juniper Vale")).songs()
    assert len(cached) == 12 and all(s.lyrics.strip() for s in cached)

import json

import pytest

from swiftai.settings import Settings
from tests.conftest import EXAMPLE_EXPORT
from training.data.cleaning import clean_lyrics
from training.data.lyric_files import import_songs, read_export, read_songs
from training.data.song_cache import SongCache
from training.errors import TrainingError


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


# CSV exports: songs we wrote ourselves, in the shapes real catalogues come in.
HARBOR = "We lit paper lanterns\nAnd let them go, \"slow\", over the bay"
PORCH = "I leave the porchlight on\nFor a car that never comes"


def csv_file(tmp_path, text: str, name: str = "songs.csv", bom: bool = False):
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def test_csv_columns_are_found_in_any_case_and_order(tmp_path):
    # A byte-order mark, Windows line ends inside and between quoted multi-line cells.
    rows = [f"{quoted(HARBOR)},Paper Lanterns,Harbor Lights",
            f"{quoted(PORCH)},Porchlight,Static Bloom"]
    text = "LYRICS,title,Album\r\n" + "\r\n".join(rows).replace("\n", "\r\n") + "\r\n"
    songs = read_songs([csv_file(tmp_path, text, bom=True)], None, "Juniper Vale")
    assert [(s.title, s.album, s.artist, s.lyrics.splitlines()) for s in songs] == [
        ("Paper Lanterns", "Harbor Lights", "Juniper Vale", HARBOR.splitlines()),
        ("Porchlight", "Static Bloom", "Juniper Vale", PORCH.splitlines())]
    assert songs[0].source == "import:songs.csv"


def test_csv_without_an_album_column_reads_songs_without_albums(tmp_path):
    path = csv_file(tmp_path, f"Song Title,Lyrics\nPorchlight,{quoted(PORCH)}\n")
    [song] = read_songs([path], "Juniper Vale", "Someone Else")
    assert (song.title, song.album, song.artist, song.lyrics) == (
        "Porchlight", None, "Juniper Vale", PORCH)


def test_csv_artist_column_is_read_and_the_artist_flag_overrides_it(tmp_path):
    path = csv_file(tmp_path, f"artist,title,lyrics,release_date\nJuniper Vale,Porchlight,"
                              f"{quoted(PORCH)},2021-10-22\n")
    [song] = read_songs([path], None, "Someone Else")
    assert (song.artist, song.release_date) == ("Juniper Vale", "2021-10-22")
    [song] = read_songs([path], "Marsh Hollow", "Someone Else")
    assert song.artist == "Marsh Hollow"


def test_tab_separated_songs_are_read(tmp_path):
    path = csv_file(tmp_path, f"Title\tLyrics\nPorchlight\t{quoted(PORCH)}\n", "songs.tsv")
    assert [s.title for s in read_songs([path], None, "Juniper Vale")] == ["Porchlight"]


def test_csv_empty_lyrics_cell_is_skipped_and_reported(tmp_path):
    path = csv_file(tmp_path, f"Title,Album,Lyrics\nPorchlight,Static Bloom,{quoted(PORCH)}\n"
                              "Interlude,Static Bloom,\n,Static Bloom,la la la\n\n")
    settings = Settings.from_env({"SWIFTAI_HOME": str(tmp_path / "home")})
    report = import_songs(read_songs([path], None, "Juniper Vale"),
                          lambda a: SongCache(settings.raw_dir(a)))
    assert report.imported == ["Porchlight"]
    assert report.skipped == [("Interlude", "no lyrics"),
                              ("import:songs.csv", "a song with no title")]


def test_csv_without_a_recognisable_header_names_the_columns_it_found(tmp_path):
    path = csv_file(tmp_path, f"Track No,Name Of Piece,Body\n1,Porchlight,{quoted(PORCH)}\n")
    with pytest.raises(TrainingError) as error:
        read_songs([path], None, "Juniper Vale")
    message = str(error.value)
    assert "songs.csv: the header row names no title or lyrics column" in message
    assert "found: 'Track No', 'Name Of Piece', 'Body'" in message and "\n" not in message


def test_csv_with_an_unclosed_quote_is_a_clear_error_not_a_swallowed_file(tmp_path):
    path = csv_file(tmp_path, f"Title,Lyrics\nPorchlight,\"{PORCH}\nHarbor,{quoted(HARBOR)}\n")
    with pytest.raises(TrainingError, match=r"songs\.csv: line \d+: "):
        read_songs([path], None, "Juniper Vale")


def test_one_title_on_two_albums_is_two_songs_and_a_repeated_row_is_reported(tmp_path):
    path = csv_file(tmp_path, f"Title,Album,Lyrics\nIntro,Harbor Lights,{quoted(HARBOR)}\n"
                              f"Intro,Static Bloom,{quoted(PORCH)}\n"
                              f"Intro,Static Bloom,{quoted(PORCH)}\n")
    settings = Settings.from_env({"SWIFTAI_HOME": str(tmp_path / "home")})
    report = import_songs(read_songs([path], None, "Juniper Vale"),
                          lambda a: SongCache(settings.raw_dir(a)))
    assert report.imported == ["Intro", "Intro"]
    assert report.skipped == [("Intro", "listed twice (same title and album); the first is kept")]
    cached = SongCache(settings.raw_dir("Juniper Vale")).songs()
    assert sorted(s.album for s in cached) == ["Harbor Lights", "Static Bloom"]


# JSON lists of songs: the plain shape, and the Mac Miller dataset's (sections as line ranges).
def test_json_list_of_plain_songs_is_read(tmp_path):
    path = tmp_path / "songs.json"
    path.write_text(json.dumps([
        {"title": "Paper Lanterns", "album": "Harbor Lights", "lyrics": HARBOR},
        {"title": "Porchlight", "lyrics": PORCH.splitlines(), "artist": "Marsh Hollow"},
        # Odd values that name nobody: a list of artists, a blank album, a number for a title.
        {"title": 22, "lyrics": PORCH, "artist": ["A", "B"], "album": "  "}]))
    songs = read_songs([path], None, "Juniper Vale")
    assert [(s.title, s.album, s.artist, s.lyrics) for s in songs] == [
        ("Paper Lanterns", "Harbor Lights", "Juniper Vale", HARBOR),
        ("Porchlight", None, "Marsh Hollow", PORCH),
        ("22", None, "Juniper Vale", PORCH)]


def test_dataset_shape_turns_line_ranges_into_section_headers(tmp_path):
    lines = ["Mm, yeah", "Okay",  # intro
             "I drove the long way home", "Past the diner and the dome",  # verse
             "Hold on, hold on", "The night is young",  # chorus
             "Hold on, hold on", "The night is young"]  # chorus again, with no section
    song = {"lyrics": lines,
            "metadata": {"title": "Long Way Home", "album_title": "Static Bloom",
                         "release_date": "28-07-2016", "written_by": "Someone"},
            "url": "https://genius.com/long-way-home-lyrics",
            "annotations": [
                {"section": "Part I: Long Way", "start": 0, "end": 0},  # a part with no lines
                {"section": "Intro: [?]", "start": 0, "end": 2},  # a note in the name
                {"section": "Verse 1: Juniper Vale", "start": 2, "end": 4},
                {"section": "Chorus] hold on", "start": 4, "end": 6},  # as scraped
                {"section": "Instrumental Break", "start": 6, "end": 6},  # no lines
                {"section": "Outro", "start": 8, "end": 12}]}  # past the last line
    path = tmp_path / "lyrics.json"
    path.write_text(json.dumps([song]))
    [read] = read_songs([path], "Juniper Vale", "Someone Else")
    assert (read.title, read.album, read.release_date, read.year, read.url) == (
        "Long Way Home", "Static Bloom", "2016-07-28", 2016,
        "https://genius.com/long-way-home-lyrics")
    assert clean_lyrics(read.lyrics) == (
        "[Intro]\nMm, yeah\nOkay\n\n"
        "[Verse]\nI drove the long way home\nPast the diner and the dome\n\n"
        "[Chorus]\nHold on, hold on\nThe night is young\n\n"
        "Hold on, hold on\nThe night is young")


@pytest.mark.parametrize(("body", "message"), [
    ('[{"title": "A", "lyrics": "x"}, "just text"]', "song 2 of the list is not an object"),
    ('[{"title": "A", "lyrics": ["one", 2]}]', "song 1: lyrics must be text or a list of lines"),
    ('"just text"', "not a lyricsgenius export or a list of songs"),
])
def test_json_that_is_not_a_list_of_songs_is_a_clear_error(tmp_path, body, message):
    path = tmp_path / "songs.json"
    path.write_text(body)
    with pytest.raises(TrainingError, match=message):
        read_songs([path], None, "Juniper Vale")

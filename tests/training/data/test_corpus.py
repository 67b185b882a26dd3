import json
import os

import pytest

from training.data.corpus import base_title, build_corpus, write_corpus
from training.data.song_cache import Song


def lyrics_of(n: int, words: int = 60) -> str:
    """Distinct lyrics for song n: 10 lines, nothing shared with another n."""
    vocab = [f"w{n}x{i}" for i in range(words)]
    return "\n".join(" ".join(vocab[i::10]) for i in range(10))


def song(n: int, title: str | None = None, date: str = "2020-01-01", lyrics: str | None = None,
         album: str | None = "Album") -> Song:
    return Song(id=f"genius-{n}", title=title or f"Song {n}", artist="A",
                lyrics=lyrics or lyrics_of(n), album=album, release_date=date)


@pytest.mark.parametrize(("title", "base"), [
    ("Love Story (Taylor's Version)", "love story"),
    ("Love Story (Taylor\u2019s Version)", "love story"),
    ("Mr. Perfectly Fine (Taylor's Version) (From The Vault)", "mr perfectly fine"),
    ("Shake It Off (Remix)", "shake it off"),
    ("Style (Live)", "style"),
    ("Clean (Acoustic)", "clean"),
    ("Cardigan (Demo)", "cardigan"),
    ("Sweet Nothing (Piano Version)", "sweet nothing"),
    ("Fearless (Remastered)", "fearless"),
    ("Teardrops On My Guitar - Single Version", "teardrops on my guitar"),
    ("All Too Well (10 Minute Version) [Taylor's Version]", "all too well"),
    ("Lively (Things)", "lively things"),
    ("Without You", "without you"),
    # As real catalogues spell them.
    ("All Too Well (10 Minute Version) (Taylor\u2019s Version) [From The Vault]", "all too well"),
    ("\u201cSlow!\u201d (Taylor\u2019s Version) [From the Vault]", "slow"),
    ("Dunno (Spotify Singles)", "dunno"),
    ("Of The Soul Remix", "of the soul"),
    ("Harbor Lights - Live in London", "harbor lights"),
    ("l\u200bong way home", "long way home"),  # a zero-width space inside the title
    ("Wh\u0435n We Were Young (Live)", "when we were young"),  # the watermark in a title
    ("Remix Culture", "remix culture"),
])
def test_version_titles_share_a_base_title(title, base):
    assert base_title(title) == base


def test_versions_collapse_to_the_original():
    songs = [song(1, "Love Story (Taylor's Version)", "2021-04-09"),
             song(2, "Love Story", "2008-09-12", lyrics=lyrics_of(9)),
             song(3, "Love Story (Live)", "2011-11-21", lyrics=lyrics_of(8))]
    corpus = build_corpus(songs)
    kept = corpus.train + corpus.val
    assert [e.song.id for e in kept] == ["genius-2"]
    assert {m["id"] for m in corpus.merged} == {"genius-1", "genius-3"}
    assert all(m["kept_id"] == "genius-2" and "version of" in m["reason"] for m in corpus.merged)


def test_versions_as_real_catalogues_title_them_collapse_into_one_song():
    titles = ["Harbor Lights (Taylor\u2019s Version)", "Harbor Lights (10 Minute Version) "
              "(Taylor\u2019s Version) [From The Vault]", "Harbor Lights - Live in London",
              "Harbor Lights (Spotify Singles)", "Harbor Lights Remix",
              "Harbor Lights [Radio Edit]", "Harbor Lights (Acoustic)", "Harbor Lights (Demo)"]
    songs = [song(1, "Harbor Lights", "2019-01-01")] + [
        song(n, title, "2020-01-01", lyrics=lyrics_of(n)) for n, title in enumerate(titles, 2)]
    corpus = build_corpus([*songs, song(50, "Porchlight")])
    assert sorted(e.song.id for e in corpus.train + corpus.val) == ["genius-1", "genius-50"]
    assert all(m["kept_id"] == "genius-1" for m in corpus.merged) and len(corpus.merged) == 8


def test_of_re_recordings_alone_the_plain_one_is_kept_over_its_remix_and_long_version():
    # A catalogue of re-recordings only: every title carries "(Taylor's Version)", no dates.
    songs = [song(1, "Harbor Lights (Remix) (Taylor\u2019s Version)", date=None),
             song(2, "Harbor Lights (10 Minute Version) (Taylor\u2019s Version) [From The Vault]",
                  date=None, lyrics=lyrics_of(2)),
             song(3, "Harbor Lights (Taylor\u2019s Version)", date=None, lyrics=lyrics_of(3))]
    corpus = build_corpus(songs)
    assert [e.song.id for e in corpus.train + corpus.val] == ["genius-3"]


def test_songs_that_share_lines_stay_on_one_side_of_the_split():
    # A remix with new verses, a demo under another title: each shares its first four lines
    # (about 20 five-word phrases) with an original, and no title says so.
    songs = []
    for n in range(60):
        songs.append(song(n, f"Original {n}"))
        shared = lyrics_of(n).splitlines()[:4]
        songs.append(song(1000 + n, f"Other Title {n}",
                          lyrics="\n".join(shared + lyrics_of(1000 + n).splitlines()[4:])))
    corpus = build_corpus(songs)
    assert len(corpus.train) + len(corpus.val) == 120 and not corpus.merged
    val = {e.song.id for e in corpus.val}
    assert 2 <= len(val) <= 40
    assert all((f"genius-{n}" in val) == (f"genius-{1000 + n}" in val) for n in range(60))
    assert len(corpus.related) == 60 and all("shares" in r["reason"] for r in corpus.related)


def test_same_lyrics_under_another_title_are_merged():
    corpus = build_corpus([song(1, "Paper Lanterns", "2019-01-01"),
                           song(2, "Lanterns (Harbor Mix Edit)", "2020-01-01",
                                lyrics=lyrics_of(1) + "\none extra line"),
                           song(3, "Other Song", lyrics=lyrics_of(3))])
    assert [m["id"] for m in corpus.merged] == ["genius-2"]
    assert "same lyrics as 'Paper Lanterns'" in corpus.merged[0]["reason"]


def test_different_songs_are_all_kept():
    corpus = build_corpus([song(n) for n in range(30)])
    assert len(corpus.train) + len(corpus.val) == 30
    assert not corpus.merged and not corpus.dropped


def test_non_songs_are_dropped_with_a_reason():
    corpus = build_corpus([song(1), song(2, "Album Booklet"), song(3, lyrics="too short")])
    reasons = {d["id"]: d["reason"] for d in corpus.dropped}
    assert set(reasons) == {"genius-2", "genius-3"}
    assert "booklet" in reasons["genius-2"] and "too short" in reasons["genius-3"]


def test_split_is_about_ninety_ten_and_deterministic():
    songs = [song(n) for n in range(400)]
    first, second = build_corpus(songs), build_corpus(list(reversed(songs)))
    assert 20 <= len(first.val) <= 60
    assert {e.song.id for e in first.val} == {e.song.id for e in second.val}


def test_adding_songs_never_moves_an_old_song_across_the_split():
    old = build_corpus([song(n) for n in range(100)])
    new = build_corpus([song(n) for n in range(300)])
    old_val = {e.song.id for e in old.val}
    new_val = {e.song.id for e in new.val}
    assert old_val == {i for i in new_val if int(i.split("-")[1]) < 100}


def test_tiny_corpus_still_gets_a_validation_song():
    corpus = build_corpus([song(1), song(2)])
    assert len(corpus.val) == 1 and len(corpus.train) == 1


def test_written_corpus_has_songs_per_line_and_a_manifest(tmp_path):
    corpus = build_corpus([song(n, date=f"20{10 + n}-05-01") for n in range(20)]
                          + [song(99, "Liner Notes")])
    out = tmp_path / "corpus"
    manifest = write_corpus(corpus, out, "A", raw_count=21)
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    val = [json.loads(line) for line in (out / "val.jsonl").read_text().splitlines()]
    assert len(train) + len(val) == 20
    assert set(train[0]) >= {"title", "album", "year", "lyrics"}
    assert train[0]["year"] == int(train[0]["title"].split()[1]) + 2010
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert on_disk["counts"] == {"raw": 21, "train": len(train), "val": len(val), "dropped": 1,
                                 "merged": 0, "train_words": 60 * len(train),
                                 "val_words": 60 * len(val)}
    assert on_disk["dropped"][0]["title"] == "Liner Notes"
    assert len(on_disk["content_hash"]) == 64


def test_content_hash_changes_only_with_content(tmp_path):
    songs = [song(n) for n in range(10)]
    a = write_corpus(build_corpus(songs), tmp_path / "a", "A", 10)["content_hash"]
    b = write_corpus(build_corpus(songs), tmp_path / "b", "A", 10)["content_hash"]
    c = write_corpus(build_corpus(songs[:-1]), tmp_path / "c", "A", 9)["content_hash"]
    assert a == b != c


def test_rewrite_replaces_the_corpus_and_leaves_no_old_versions(tmp_path):
    out = tmp_path / "corpus"
    write_corpus(build_corpus([song(n) for n in range(5)]), out, "A", 5)
    write_corpus(build_corpus([song(n) for n in range(8)]), out, "A", 8)
    assert json.loads((out / "manifest.json").read_text())["counts"]["raw"] == 8
    live = out.resolve().name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["corpus", live])


def test_a_crash_before_the_swap_leaves_the_previous_corpus(tmp_path):
    out = tmp_path / "corpus"
    write_corpus(build_corpus([song(n) for n in range(5)]), out, "A", 5)
    before = (out / "train.jsonl").read_bytes()
    # A crash mid-write leaves a half-built hidden staging folder and the link untouched.
    half = tmp_path / ".corpus.crashed"
    half.mkdir()
    (half / "train.jsonl").write_text('{"title": "half a li')
    assert (out / "train.jsonl").read_bytes() == before
    write_corpus(build_corpus([song(n) for n in range(6)]), out, "A", 6)
    assert not half.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["corpus", out.resolve().name])


def test_a_folder_of_someone_elses_files_is_not_overwritten(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_corpus(build_corpus([song(1), song(2)]), out, "A", 2)
    assert (out / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_explain_says_so_when_nothing_was_dropped(hermetic_env, capsys, monkeypatch):
    from tests.conftest import EXAMPLE_EXPORT
    from training.__main__ import main

    for key in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TOKENIZERS_PARALLELISM"):
        monkeypatch.setenv(key, os.environ.get(key, ""))  # main() sets them: undo afterwards

    assert main(["import", str(EXAMPLE_EXPORT)]) == 0
    assert main(["corpus", "--artist", "Juniper Vale", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "nothing was dropped or merged: every song is in the corpus" in out
    assert "0 dropped, 0 merged" in out


def test_the_manifest_holds_the_artists_style_and_form(tmp_path, example_songs):
    from tests.conftest import EXAMPLE_EXPORT
    from training.data.lyric_files import read_export

    manifest = write_corpus(build_corpus(read_export(EXAMPLE_EXPORT)), tmp_path / "c", "J", 12)
    style = manifest["style"]
    assert style["songs"] == manifest["counts"]["train"] + manifest["counts"]["val"]
    assert 3 < style["words_per_line"] < 12 and 0 <= style["rhyme_rate"] <= 1
    assert style["header_rate"] == 1.0  # every fixture song has [Verse]/[Chorus] headers
    assert 0 <= style["recurring_block_rate"] <= 1
    assert manifest["form"] is None or "Chorus" in manifest["form"]


def test_a_csv_catalogue_with_real_quirks_builds_a_clean_corpus(hermetic_env, tmp_path, capsys,
                                                                 monkeypatch):
    """Import a CSV shaped like a real catalogue (songs we wrote) and build its corpus."""
    from training.__main__ import main

    for key in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TOKENIZERS_PARALLELISM"):
        monkeypatch.setenv(key, os.environ.get(key, ""))  # main() sets them: undo afterwards

    def lines(n: int) -> list[str]:
        return [f"w{n}a{i} w{n}b{i} w{n}c{i} w{n}d{i} w{n}e{i} w{n}f{i}" for i in range(8)]

    def body(n: int, chorus: list[str] | None = None) -> str:
        verse, hook = lines(n)[:4], chorus or lines(n)[4:]
        # No header before the first verse; the watermark (Cyrillic e) inside English words.
        return "\n".join([*verse, "", "[Chorus: Juniper Vale]", *hook, "", "[Instrumental Break]",
                          "", "[Chorus]", *hook, "whenev\u0435r th\u0435y call"])

    songs = [(f"Song {n}", "Harbor Lights", body(n)) for n in range(12)]
    songs += [("Song 0 (Taylor\u2019s Version) [From The Vault]", "Harbor Lights (TV)", body(90)),
              ("Song 1 - Live in London", "Live", body(91)),
              ("Telescope (Song 2 Demo)", "Demos", body(92, chorus=lines(2)[4:]))]
    rows = ["Title,Album,Lyrics"] + [
        ",".join(['"' + cell.replace('"', '""') + '"' for cell in song]) for song in songs]
    path = tmp_path / "songs.csv"
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8-sig")

    assert main(["import", str(path), "--artist", "Juniper Vale"]) == 0
    assert main(["corpus", "--artist", "Juniper Vale", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "15 songs imported" in out and "2 merged" in out
    assert "kept on one side of the split: Telescope (Song 2 Demo)" in out
    corpus = hermetic_env / "data" / "corpus" / "juniper-vale"
    records = {side: [json.loads(line) for line in (corpus / f"{side}.jsonl").open()]
               for side in ("train", "val")}
    everything = records["train"] + records["val"]
    assert len(everything) == 13
    assert all(record["lyrics"].isascii() for record in everything)
    assert all(record["lyrics"].startswith("[Verse]\n") for record in everything)
    assert all("[Interlude]" not in record["lyrics"] for record in everything)
    sides = {record["title"]: side for side, rs in records.items() for record in rs}
    assert sides["Telescope (Song 2 Demo)"] == sides["Song 2"]

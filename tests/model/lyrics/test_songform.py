"""Song form on constructed songs: the artist's form, section lengths, fitting one message."""

from dataclasses import replace

from model.lyrics.songform import common_form, render, section_lines
from model.lyrics.style import GENERIC

ARTIST = replace(GENERIC, words_per_line=7.0, words_per_line_p90=10.0, stanza_lines=4.0)


def test_the_artists_common_form_is_taken_when_two_songs_share_it():
    song = "[Intro]\nx\n[Verse]\na\n[Chorus]\nb\n[Chorus]\nb\n[Verse]\nc\n[Chorus]\nb\n[Outro]\nz"
    other = "[Verse]\na\n[Bridge]\nb"
    assert common_form([song, song, other]) == ("Verse 1", "Chorus", "Verse 2", "Chorus",
                                                "Outro")
    assert common_form([song, other]) is None  # one song is not a habit
    assert common_form(["no headers at all\njust lines"] * 5) is None
    once = "[Verse]\na\n[Chorus]\nb\n[Verse]\nc"
    assert common_form([once] * 5) is None  # a chorus that never comes back is no song form


def test_lines_before_the_first_header_are_a_verse():
    # As real catalogues often have it: the first verse has no header, the rest do.
    song = "a\nb\n\n[Chorus]\nc\nd\n\n[Verse 2]\ne\nf\n\n[Chorus]\nc\nd"
    assert common_form([song, song]) == ("Verse 1", "Chorus", "Verse 2", "Chorus")
    labelled = "[Verse 1]\n" + song
    assert common_form([song, labelled]) == ("Verse 1", "Chorus", "Verse 2", "Chorus")


def test_section_lengths_follow_the_artists_stanzas():
    assert section_lines("Verse 2", ARTIST) == 4 and section_lines("Chorus", ARTIST) == 4
    assert section_lines("Bridge", ARTIST) == 2
    assert section_lines("Verse 1", replace(ARTIST, stanza_lines=20)) == 8


def test_a_long_song_loses_verse_lines_never_chorus_lines():
    verse = [f"a fairly long verse line number {i} that goes on a while" for i in range(8)]
    chorus = [f"the chorus line {i} we all sing together again" for i in range(6)]
    song = [("Verse 1", verse), ("Chorus", chorus), ("Verse 2", verse), ("Chorus", chorus),
            ("Bridge", verse[:4]), ("Chorus", chorus)]
    text = render(song, 1900)
    assert len(text) <= 1900
    blocks = text.split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == ["[Verse 1]", "[Chorus]", "[Verse 2]",
                                                  "[Chorus]", "[Bridge]", "[Chorus]"]
    assert all(b.split("\n")[1:] == chorus for b in blocks if b.startswith("[Chorus]"))
    assert len(blocks[0].split("\n")) < 9  # verse 1 was shortened

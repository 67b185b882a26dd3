"""Style figures on hand-made songs whose answers are known."""

import pytest

from model.lyrics.style import figures, has_recurring_block, rhymes, rhyming_lines, stanzas

SONG = """[Verse]
I walked along the river bright
The moon was hanging in the night
And every star was burning low
I didn't know which way to go

[Chorus]
Hold on, hold on
The morning's coming soon
Hold on, hold on
We'll dance beneath the moon

[Verse]
The water carried all my fears
Away from me across the years

[Chorus]
HOLD ON, hold on!
The morning's coming soon"""

PROSE = ("As he fell into bed the last thing he remembered was the sound of the rain on the "
         "roof of the old house by the river where he grew up\nand then nothing at all")


def test_words_rhyme_by_sound_not_spelling():
    assert rhymes("fire", "desire") and rhymes("tonight", "light") and rhymes("through", "blue")
    assert not rhymes("cough", "though")  # same spelling at the end, different sound
    assert not rhymes("night", "night")  # a repeated word is not a rhyme
    assert rhymes("blorptastic", "florptastic")  # unknown words fall back to spelling
    assert not rhymes("blorptastic", "moon")


def test_a_line_rhymes_with_one_of_the_three_lines_before_it():
    lines = ["the river bright", "in the night", "burning low", "way to go", "hold on",
             "coming soon", "hold on", "beneath the moon"]
    # night/bright, go/low, moon/soon; the second "hold on" repeats a word, it does not rhyme
    assert rhyming_lines(lines) == 3
    assert rhyming_lines(["a sound of fire", "one", "two", "three", "my desire"]) == 0  # 4 back


def test_a_chorus_that_comes_back_is_a_recurring_block():
    assert has_recurring_block(SONG)  # case and punctuation ignored
    assert not has_recurring_block("one line\nanother line\nthird\nfourth")
    assert not has_recurring_block("la la\nla la\nla la\nla la")  # not two distinct lines
    assert not has_recurring_block("a\nb\nb\nc")  # nothing comes back
    assert has_recurring_block("a b\nc d\n\nnew\n\na b\nc d")  # found without headers too


def test_stanzas_split_on_blank_lines_and_headers():
    assert [len(s) for s in stanzas(SONG)] == [4, 4, 2, 2]


def test_figures_of_a_hand_made_song():
    style = figures([SONG])
    assert style.songs == 1 and style.lines_per_song == 12
    # 6, 7, 6, 7 | 4, 4, 4, 5 | 6, 6 | 4, 4 words a line
    assert style.words_per_line == pytest.approx(63 / 12)
    assert style.words_per_line_p90 == pytest.approx(6.9)  # between the 10th and 11th of 12
    # bright-night, low-go, soon-moon, fears-years: 4 of 12 lines
    assert style.rhyme_rate == pytest.approx(4 / 12)
    assert style.recurring_block_rate == 1.0 and style.header_rate == 1.0
    assert style.stanza_lines == 3.0  # median of 4, 4, 2, 2


def test_prose_has_long_lines_no_rhyme_and_no_chorus():
    both = figures([SONG, PROSE])
    assert both.recurring_block_rate == 0.5 and both.header_rate == 0.5
    assert figures([PROSE]).words_per_line > 10 and figures([PROSE]).rhyme_rate == 0

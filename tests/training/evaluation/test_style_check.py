"""Song-mode targets on hand-made figures."""

from model.writing.novelty import CopyIndex
from training.evaluation.style_check import junk_rate, song_metrics, targets


def style(**fine_tuned):
    artist = {"rhyme_rate": 0.4, "words_per_line": 7.0, "words_per_line_p90": 10.0,
              "lines_per_song": 50.0, "recurring_block_rate": 0.9}
    return {name: {"artist": value, "base": 0.0, "fine_tuned": fine_tuned.get(name, value)}
            for name, value in artist.items()}


CLEAN = {"song_copy_rate": 0.0, "song_degenerate_rate": 0.0, "song_junk_rate": 0.0}


def test_figures_close_to_the_artists_meet_the_targets():
    met = targets(style(rhyme_rate=0.31, words_per_line=8.3, recurring_block_rate=1.0), CLEAN)
    assert met == {"rhyme_rate": True, "words_per_line": True, "words_per_line_p90": True,
                   "lines_per_song": True, "chorus_recurs": True, "no_copies": True,
                   "no_loops": True, "no_junk": True}


def test_each_target_can_be_missed_on_its_own():
    assert not targets(style(rhyme_rate=0.29, recurring_block_rate=1.0), CLEAN)["rhyme_rate"]
    assert not targets(style(words_per_line=8.5, recurring_block_rate=1.0),
                       CLEAN)["words_per_line"]
    assert not targets(style(words_per_line_p90=13.1, recurring_block_rate=1.0),
                       CLEAN)["words_per_line_p90"]
    assert not targets(style(lines_per_song=34.0, recurring_block_rate=1.0),
                       CLEAN)["lines_per_song"]
    assert not targets(style(recurring_block_rate=0.9), CLEAN)["chorus_recurs"]
    assert not targets(style(), {**CLEAN, "song_copy_rate": 0.1})["no_copies"]
    assert not targets(style(), {**CLEAN, "song_degenerate_rate": 0.5})["no_loops"]
    assert not targets(style(), {**CLEAN, "song_junk_rate": 0.01})["no_junk"]


def test_songs_are_measured_for_lines_that_are_no_lyric():
    cake = "[Verse]\nWe lit paper lanterns\n\n[Chorus]\n- sugar roses\n1) blue icing\nbake it"
    song = "[Verse]\nWe lit paper lanterns\nand the harbor (the harbor) was quiet"
    assert junk_rate([cake, song]) == 2 / 6

    assert song_metrics([cake], CopyIndex([]))["song_junk_rate"] == 0.5
    assert song_metrics([song], CopyIndex([]))["song_junk_rate"] == 0.0

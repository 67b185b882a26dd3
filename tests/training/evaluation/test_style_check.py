"""Song-mode targets on hand-made figures."""

import math

import pytest

from model.lyrics.habits import SHAPES
from model.lyrics.style import figures
from model.writing.novelty import CopyIndex
from training.evaluation.evaluate import summary_line
from training.evaluation.style_check import (
    artist_style,
    junk_rate,
    report_rows,
    rhyme_error,
    song_metrics,
    targets,
    unsure_rhyme,
)


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


RHYMED = "[Verse]\nI walk the night\nand hold the light\nI find the sight\nof what is right"
UNRHYMED = "[Verse]\nI walk the road\nand hold the lamp\nI find the door\nof what is mine"


def test_the_rhyme_rates_sampling_error_is_the_spread_between_songs():
    assert rhyme_error([RHYMED, RHYMED, RHYMED]) == 0.0  # every song rhymes alike: no doubt
    assert rhyme_error([RHYMED]) == 0.0  # one song: nothing to spread
    # Half the songs rhyme 3 lines in 4, half none: 0.375 overall, and a wide error that
    # narrows as the sample grows.
    few, more = [RHYMED, UNRHYMED] * 2, [RHYMED, UNRHYMED] * 8
    assert 0.15 < rhyme_error(few) < 0.25
    assert rhyme_error(more) == pytest.approx(rhyme_error(few) * math.sqrt(3 / 15), rel=1e-6)


def test_a_rhyme_rate_just_past_its_band_is_unsure_when_its_error_spans_the_gap():
    past = style(rhyme_rate=0.52)  # the band is 0.30-0.50
    assert not targets(past, CLEAN)["rhyme_rate"]
    assert unsure_rhyme(past, error=0.03)  # 0.02 past, error 0.03: too few songs to say
    assert not unsure_rhyme(past, error=0.005)  # 0.02 past, error 0.005: it misses
    assert not unsure_rhyme(style(rhyme_rate=0.45), error=0.03)  # inside: it meets
    assert not unsure_rhyme(past, error=None)  # figures from before the error was kept


def test_the_report_gives_the_rhyme_rates_error_and_says_when_too_few_songs_decide():
    past = style(rhyme_rate=0.52)
    metrics = {"style": past, "style_targets": targets(past, CLEAN), "song_openings": 8,
               "val_songs": 25, "rhyme_rate_error": 0.03, "base_rhyme_rate_error": 0.04,
               **CLEAN, **{f"base_{name}": value for name, value in CLEAN.items()}}
    report = "\n".join(report_rows(metrics))
    assert "| rhyme_rate | 0.4 | 0.0 ± 0.04 | 0.52 ± 0.03 |" in report
    assert "rhyme_rate no" in report  # the verdict stands; the note says how sure it is
    assert "by less than twice its sampling error (± 0.03 on 8 songs)" in report
    assert "--eval-songs 24" not in "\n".join(report_rows({**metrics, "rhyme_rate_error": 0.005}))


def test_a_runs_summary_names_the_targets_it_missed_and_how_often_it_was_told_apart():
    told = {"target": 0.7, "real_vs_real": {"accuracy": 0.46}, "fine_tuned": {"accuracy": 0.664}}
    metrics = {"base_perplexity": 10.62, "perplexity": 7.75, "can_tell": told,
               "style_targets": {"rhyme_rate": False, "words_per_line": True, "no_junk": False}}
    assert summary_line(metrics) == (
        "validation perplexity 10.62 (base) -> 7.75 (fine-tuned); song targets missed: "
        "rhyme_rate, no_junk; can't tell 0.66 (target at most 0.70; real vs real 0.46)")
    met = {**metrics, "style_targets": {"rhyme_rate": True}}
    assert "song targets all met;" in summary_line(met)


def test_a_runs_summary_says_when_a_missed_rhyme_rate_is_within_its_sampling_error():
    past = style(rhyme_rate=0.52)  # the band is 0.30-0.50
    metrics = {"base_perplexity": 10.62, "perplexity": 7.75, "style": past,
               "style_targets": targets(past, CLEAN), "song_openings": 8,
               "rhyme_rate_error": 0.03, "can_tell": {}}
    assert "missed: rhyme_rate (within the sampling error of 8 songs)" in summary_line(metrics)
    sure = {**metrics, "rhyme_rate_error": 0.005}  # 0.02 past its band, error 0.005: it misses
    assert "missed: rhyme_rate," in summary_line(sure) and "within" not in summary_line(sure)


def test_the_artists_figures_are_measured_again_when_the_corpus_predates_a_line_shape():
    # The bot measures the figures when it loads a model; evaluation reads the corpus manifest's.
    # Saved before "unpaired bracket" was looked for, they would let a cut-off ad-lib through
    # here that Discord refuses.
    lyrics = ["[Verse]\nwe ran all night (all night)\n(yeah) the city's ours\nand we know"] * 4
    saved = figures(lyrics).to_json()
    assert artist_style({"style": {**saved, "words_per_line": 99.0}}, lyrics).words_per_line \
        == 99.0  # current figures are read, not measured
    older = {**saved, "checked": [name for name in SHAPES if name != "unpaired bracket"]}
    again = artist_style({"style": older}, lyrics)
    assert "unpaired bracket" in again.checked and again == figures(lyrics)

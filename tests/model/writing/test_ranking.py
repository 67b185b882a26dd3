"""Ranking: the features of constructed candidate lines, the weights, the line budget."""

import json
import logging
from dataclasses import replace

import pytest

from model.lyrics.songform import line_budget, song_lengths
from model.lyrics.style import GENERIC
from model.serving.protocol import Completion
from model.writing.lines import best, candidates, line_of
from model.writing.novelty import CopyIndex
from model.writing.ranking import DEFAULT, Weights, load_weights, score
from model.writing.reending import stem

ARTIST = replace(GENERIC, words_per_line=6.0, words_per_line_p90=8.0)


def lines(*texts, logprob=-2.0, finish="stop"):
    return [Completion(t, logprob, 5, finish) for t in texts]


def test_a_line_may_take_the_artists_p90_words_and_thirty_percent_more_in_tokens():
    assert line_budget(replace(GENERIC, words_per_line_p90=10.0)) == 19  # 13 words x 1.3 + 2
    assert line_budget(replace(GENERIC, words_per_line_p90=20.0)) == 36


def test_a_rhyming_line_ranks_over_a_near_one_and_a_near_one_over_none():
    options = candidates(lines("we drove on through the moon", "we drove on through the ride",
                               "we drove on through the light"), ARTIST, "night", set(), None, [])
    assert [o.features["rhyme"] for o in options] == [0.0, 0.5, 1.0]
    assert best(options, DEFAULT).text == "we drove on through the light"
    without = best(options[:2], DEFAULT)
    assert without.text == "we drove on through the ride"


def test_a_line_the_scheme_leaves_free_is_not_pushed_to_rhyme():
    options = candidates(lines("we drove on through the moon", "we drove on through the light"),
                         ARTIST, None, set(), None, [])
    assert [o.features["rhyme"] for o in options] == [0.0, 0.0]


def test_prose_loses_to_a_line_of_the_artists_width_even_when_likelier():
    prose = "and then we went down to the water and we talked about everything all night"
    options = (candidates(lines(prose, logprob=-1.5), ARTIST, None, set(), None, [])
               + candidates(lines("down by the water we talked", logprob=-2.5), ARTIST, None,
                            set(), None, []))
    assert options[0].features["drift"] == 1.0 and options[1].features["drift"] == 0.0
    assert best(options, DEFAULT).text == "down by the water we talked"


def test_a_line_that_makes_the_lines_before_it_a_loop_is_not_kept():
    # Each line is new, yet "you got a point" comes five times running: the song is stuck.
    before = ["you got a point you got a point", "you got a point"]
    stuck, moving = candidates(lines("you got a point you got a point", "so tell me what you want"),
                               ARTIST, None, set(), None, before)
    assert stuck.loops and not stuck.usable and not moving.loops
    assert best([stuck, moving], DEFAULT).text == "so tell me what you want"
    # A user's own opening that is a loop already leaves the next lines free.
    (after,) = candidates(lines("oh we ride"), ARTIST, None, set(), None,
                          ["oh oh oh oh oh oh"])
    assert not after.loops and after.usable


def test_a_number_list_is_no_line_even_for_an_artist_who_writes_numbers():
    # A rap catalogue writes digits ("36 chambers"), so its habits allow them; a tuned model
    # still wrote "1904 983 7" as a verse's line.
    rapper = replace(ARTIST, shapes=("digits",))
    numbers, chambers = candidates(lines("1904 983 7", "36 chambers deep in the night"), rapper,
                                   None, set(), None, [])
    assert numbers.unlike == "number list" and not numbers.usable
    assert chambers.usable


def test_a_line_cut_by_its_budget_loses_to_one_that_ended():
    options = (candidates(lines("we held the light", finish="length"), ARTIST, "night", set(),
                          None, [])
               + candidates(lines("we held on", logprob=-3.0), ARTIST, "night", set(), None, []))
    assert best(options, DEFAULT).text == "we held on"


def test_a_line_cut_by_its_budget_gets_no_rhyme_for_its_cut_last_word():
    # "m" (the start of a cut word) is in the dictionary and rhymes with "them".
    cut = candidates(lines("who do not m", finish="length"), ARTIST, "them", set(), None, [])[0]
    ended = candidates(lines("who do not m"), ARTIST, "them", set(), None, [])[0]
    assert cut.features["rhyme"] == 0.0 and ended.features["rhyme"] == 1.0


def test_lines_already_sung_copied_or_empty_are_not_usable():
    index = CopyIndex(["under the porch light we counted every single star"])
    options = candidates(lines("Back home again", "", "[Chorus]", "we counted every single star"),
                         ARTIST, None, {"back home again"}, index, ["under the porch light"])
    assert [o.usable for o in options] == [False, False, False, False]
    assert options[3].copied == 9 and options[3].features["copied"] == 9 / 8


def test_weights_score_the_weighted_sum_of_the_features():
    features = {"likelihood": -2.0, "width": 0.5, "rhyme": 1.0, "drift": 0.0, "copied": 0.25}
    assert score(features) == -2.0 - 1.5 * 0.5 + 1.0
    assert score(features, Weights(1, 0, 2, 0, -4, bias=0.5)) == 0.5 - 2.0 + 2.0 - 1.0


def test_a_runs_ranking_file_sets_its_weights(tmp_path):
    (tmp_path / "ranking.json").write_text(json.dumps({
        "weights": {"likelihood": 0.5, "width": -1.0, "rhyme": 2.0, "drift": -1.0,
                    "copied": -0.5}, "bias": 0.1, "votes": 312, "source": "feedback"}))
    assert load_weights(tmp_path) == Weights(0.5, -1.0, 2.0, -1.0, -0.5, 0.1)


def test_a_missing_ranking_file_means_the_defaults(tmp_path):
    assert load_weights(tmp_path) == DEFAULT and load_weights(None) == DEFAULT


def test_a_bad_ranking_file_means_the_defaults_and_one_warning(tmp_path, caplog):
    (tmp_path / "ranking.json").write_text('{"weights": {"likelihood": "high"}}')
    with caplog.at_level(logging.WARNING, logger="model.writing.ranking"):
        assert load_weights(tmp_path) == DEFAULT
    assert len(caplog.records) == 1 and "ranking.json" in caplog.records[0].getMessage()


def test_a_completion_becomes_one_clean_line():
    assert line_of("  the  road home  ") == "the road home"
    assert line_of("[Chorus]") == ""
    assert stem("I walk alone tonight!") == "I walk alone" and stem("hey") == ""


def test_a_song_grows_toward_the_artists_length_within_one_message():
    form = ("Verse 1", "Chorus", "Verse 2", "Chorus", "Bridge", "Chorus")
    long = replace(GENERIC, stanza_lines=4.0, lines_per_song=50.0, words_per_line=7.0)
    assert song_lengths(form, long, 1900) == [8, 8, 8, 8, 4, 8]  # 44: what a message holds
    short = replace(long, lines_per_song=20.0)
    assert song_lengths(form, short, 1900) == [4, 4, 4, 4, 2, 4]


def test_the_artists_share_of_prose_words_is_measured_from_their_lyrics():
    from model.lyrics.style import figures

    assert figures(["the sun of mine\nand you", "[Chorus]\nhold on"]).prose_rate == 2 / 8


def test_a_line_of_prose_words_loses_to_the_artists_kind_when_prose_is_weighed():
    artist = replace(ARTIST, prose_rate=0.1)
    options = (candidates(lines("the weight of their names on the page", logprob=-2.0), artist,
                          None, set(), None, [])
               + candidates(lines("your name on my lips all night", logprob=-2.5), artist,
                            None, set(), None, []))
    assert [o.features["prose"] for o in options] == pytest.approx([0.5 - 0.1, 0.0 - 0.1])
    assert best(options, DEFAULT).text == "the weight of their names on the page"
    assert best(options, Weights(prose=-2.0)).text == "your name on my lips all night"
    unknown = candidates(lines("the weight of their names"), GENERIC, None, set(), None, [])
    assert unknown[0].features["prose"] == 0.0  # figures saved before prose was measured
